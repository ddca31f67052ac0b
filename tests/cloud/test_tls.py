"""TLS and mTLS by config, over real sockets with certificates made for the test."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cloud.serving.server import ServeSettings
from tests.cloud.server_thread import ServerThread

pytestmark = pytest.mark.slow


def _issue(name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None, *, ca: bool = False
           ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer[0].subject if issuer else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                        critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def test_mtls_accepts_a_client_certificate_and_refuses_none(tiny_bundle: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_bundle, tmp_path / "repo" / "1")
    ca = _issue("splitrank test CA", None, ca=True)
    server_cert, server_key = _issue("localhost", ca)
    client_cert, client_key = _issue("device-1", ca)
    files = {"ca.pem": _pem(ca[0]), "server.pem": _pem(server_cert), "server.key": _key(server_key)}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    settings = ServeSettings(repository=tmp_path / "repo", port=0, tls_cert_file=str(tmp_path / "server.pem"),
                             tls_key_file=str(tmp_path / "server.key"), tls_client_ca_file=str(tmp_path / "ca.pem"))
    server = ServerThread(settings)
    try:
        address = f"localhost:{server.running.port}"
        good = grpc.ssl_channel_credentials(_pem(ca[0]), _key(client_key), _pem(client_cert))
        with grpc.secure_channel(address, good) as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
            assert status == health_pb2.HealthCheckResponse.SERVING
        anonymous = grpc.ssl_channel_credentials(_pem(ca[0]))
        with grpc.secure_channel(address, anonymous) as channel, pytest.raises(grpc.RpcError) as caught:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError):
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    finally:
        server.close()
