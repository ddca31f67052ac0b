"""The fleet's certificate authority: one CA that signs the broker's server certificate and a client
certificate per device (its common name is the device id, which mosquitto's ``use_identity_as_username``
makes the MQTT user name the ACL checks) and for the manager. ECDSA P-256, PEM files."""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_YEARS = 10
LEAF_YEARS = 2


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "splitrank fleet"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def write_secret(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only (created with that mode: never readable by others, even briefly)."""
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        out.write(data)


class FleetCA:
    """Load or create the CA in ``directory`` (``ca.pem``, ``ca.key``); ``issue`` signs leaf certificates."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cert_file, self.key_file = directory / "ca.pem", directory / "ca.key"
        if self.cert_file.is_file() and self.key_file.is_file():
            self.cert = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
            key = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{self.key_file} is not an EC private key")
            self.key = key
            return
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(_name("splitrank fleet CA")).issuer_name(_name("splitrank fleet CA"))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        write_secret(self.key_file, _key_pem(self.key))
        self.cert_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name: str, out: Path, *, hosts: tuple[str, ...] = ()) -> tuple[Path, Path]:
        """Sign a certificate for ``common_name`` into ``out/<common_name>.pem`` and ``.key``; with ``hosts`` (DNS names or IP
        addresses) it is a server certificate for them, else a client certificate. Returns (certificate, key) paths."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if hosts else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=365 * LEAF_YEARS))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if hosts:
            names: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        out.mkdir(parents=True, exist_ok=True)
        cert_file, key_file = out / f"{common_name}.pem", out / f"{common_name}.key"
        write_secret(key_file, _key_pem(key))
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert_file, key_file
