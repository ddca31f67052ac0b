"""TLS and mTLS by config, over real sockets with certificates made for the test."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cloud.serving.server import ServeSettings
from tests.certs import TestCA
from tests.cloud.server_thread import ServerThread

pytestmark = pytest.mark.slow


def test_mtls_accepts_a_client_certificate_and_refuses_none(tiny_bundle: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_bundle, tmp_path / "repo" / "1")
    ca = TestCA()
    server_cert, server_key = ca.write(tmp_path, "localhost")
    client_cert, client_key = ca.issue("device-1")
    settings = ServeSettings(repository=tmp_path / "repo", port=0, tls_cert_file=str(server_cert), tls_key_file=str(server_key),
                             tls_client_ca_file=str(ca.write_ca(tmp_path / "ca.pem")))
    server = ServerThread(settings)
    try:
        address = f"localhost:{server.running.port}"
        good = grpc.ssl_channel_credentials(ca.pem, client_key, client_cert)
        with grpc.secure_channel(address, good) as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
            assert status == health_pb2.HealthCheckResponse.SERVING
        anonymous = grpc.ssl_channel_credentials(ca.pem)
        with grpc.secure_channel(address, anonymous) as channel, pytest.raises(grpc.RpcError) as caught:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError):
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    finally:
        server.close()
