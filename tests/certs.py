"""Certificates made in the test: a CA, and server or client certificates it signs (ECDSA P-256)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class TestCA:
    """A certificate authority; ``issue`` signs a certificate for a host (SAN localhost and 127.0.0.1) or a device (CN)."""

    __test__ = False  # not a pytest test class

    def __init__(self, name: str = "splitrank test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = self._build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), self.key.public_key(), ca=True)

    def _build(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, *, ca: bool) -> x509.Certificate:
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject if not ca else subject)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                                          x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str) -> tuple[bytes, bytes]:
        """(certificate PEM, private key PEM) for ``common_name``, signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]), key.public_key(), ca=False)
        return (cert.public_bytes(serialization.Encoding.PEM),
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    def write(self, directory: Path, common_name: str) -> tuple[Path, Path]:
        """Issue for ``common_name`` into ``directory/<name>.pem`` and ``<name>.key``; returns both paths."""
        cert, key = self.issue(common_name)
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{common_name}.pem", directory / f"{common_name}.key"
        cert_path.write_bytes(cert)
        key_path.write_bytes(key)
        return cert_path, key_path

    def write_ca(self, path: Path) -> Path:
        """This CA's certificate as a PEM file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.pem)
        return path
