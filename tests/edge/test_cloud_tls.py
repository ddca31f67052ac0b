"""The agent's link to TLS and mTLS clouds, over real sockets with certificates made in the test: it
reaches a TLS cloud and an mTLS cloud; a wrong CA, no client certificate, or a certificate the cloud's
CA did not sign is refused, and the request is answered locally, degraded, with the reason."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from cloud.serving.server import ServeSettings
from edge.link import EndpointTLS, parse_endpoint_tls
from edge.server import AgentSettings, start_agent
from splitrank.client import Client
from tests.certs import TestCA
from tests.cloud.server_thread import ServerThread
from tests.loop_thread import LoopThread

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The cloud's CA (server and device certificates), and a stranger CA with a device certificate of its own."""
    root = tmp_path_factory.mktemp("pki")
    ca, stranger = TestCA("cloud CA"), TestCA("stranger CA")
    server_cert, server_key = ca.write(root, "localhost")
    device_cert, device_key = ca.write(root, "device-00")
    stranger_cert, stranger_key = stranger.write(root / "stranger", "device-01")
    return {"ca": ca.write_ca(root / "ca.pem"), "stranger_ca": stranger.write_ca(root / "stranger-ca.pem"), "server_cert": server_cert,
            "server_key": server_key, "device_cert": device_cert, "device_key": device_key, "stranger_cert": stranger_cert,
            "stranger_key": stranger_key}


def _cloud(tiny_bundle: Path, root: Path, pki: dict[str, Path], *, mutual: bool) -> ServerThread:
    shutil.copytree(tiny_bundle, root / tiny_bundle.name)
    return ServerThread(ServeSettings(repository=root, port=0, tls_cert_file=str(pki["server_cert"]), tls_key_file=str(pki["server_key"]),
                                      tls_client_ca_file=str(pki["ca"]) if mutual else None))


@pytest.fixture(scope="module")
def clouds(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Path]) -> Iterator[dict[str, int]]:
    tls = _cloud(tiny_bundle, tmp_path_factory.mktemp("tls-cloud"), pki, mutual=False)
    mtls = _cloud(tiny_bundle, tmp_path_factory.mktemp("mtls-cloud"), pki, mutual=True)
    yield {"tls": tls.running.port, "mtls": mtls.running.port}
    tls.close()
    mtls.close()


def _rank_split(tiny_bundle: Path, port: int, cloud_tls: str) -> tuple[str, bool, str]:
    """(route, degraded, reason) of one forced split request through an agent with these TLS settings."""
    loop = LoopThread()
    agent = loop.call(start_agent(AgentSettings(repository=tiny_bundle, port=0, policy="local", cloud=f"c0=127.0.0.1:{port}",
                                                cloud_tls=cloud_tls)))
    try:
        codes = json.loads((tiny_bundle / "catalogue.json").read_text())["codes"]
        with Client(f"127.0.0.1:{agent.port}") as client:
            ranking = client.rank([(codes[1], 1.0, 1), (codes[2], 3.0, 2)], k=5, deadline_s=10, route="split")
        return ranking.route, ranking.degraded, ranking.degraded_reason
    finally:
        loop.call(agent.stop())
        loop.close()


def test_agent_reaches_a_tls_cloud_and_an_mtls_cloud(tiny_bundle: Path, clouds: dict[str, int], pki: dict[str, Path]) -> None:
    assert _rank_split(tiny_bundle, clouds["tls"], f"c0:ca={pki['ca']}") == ("split", False, "")
    mutual = f"*:ca={pki['ca']},cert={pki['device_cert']},key={pki['device_key']}"
    assert _rank_split(tiny_bundle, clouds["mtls"], mutual) == ("split", False, "")


@pytest.mark.parametrize("cloud, files", [
    ("tls", "ca={stranger_ca}"),  # the server's certificate is not signed by the CA the agent trusts
    ("mtls", "ca={ca}"),  # no client certificate
    ("mtls", "ca={ca},cert={stranger_cert},key={stranger_key}"),  # a device certificate the cloud's CA did not sign
], ids=["wrong-ca", "no-client-certificate", "foreign-client-certificate"])
def test_refused_tls_is_answered_locally_degraded_with_the_reason(tiny_bundle: Path, clouds: dict[str, int], pki: dict[str, Path],
                                                                    cloud: str, files: str) -> None:
    route, degraded, reason = _rank_split(tiny_bundle, clouds[cloud], "c0:" + files.format(**pki))
    assert (route, degraded) == ("local", True)
    assert reason.startswith("cloud c0: UNAVAILABLE") and "TLS" in reason, reason


def test_a_plaintext_agent_is_refused_by_a_tls_cloud(tiny_bundle: Path, clouds: dict[str, int]) -> None:
    route, degraded, reason = _rank_split(tiny_bundle, clouds["tls"], "")
    assert (route, degraded) == ("local", True) and reason.startswith("cloud c0: UNAVAILABLE"), reason


def test_tls_settings_parse_and_unreadable_files_fail_at_start(tmp_path: Path) -> None:
    assert parse_endpoint_tls("c0:ca=/a.pem; *:ca=/b.pem,cert=/c.pem,key=/d.key") == {
        "c0": EndpointTLS("/a.pem"), "*": EndpointTLS("/b.pem", "/c.pem", "/d.key")}
    for bad in ("c0", "c0:ca", "c0:pin=/x", ":ca=/x"):
        with pytest.raises(ValueError, match="cloud TLS"):
            parse_endpoint_tls(bad)
    with pytest.raises(ValueError, match="cannot read"):
        EndpointTLS(ca_file=str(tmp_path / "missing.pem")).credentials()
    with pytest.raises(ValueError, match="needs its key"):
        EndpointTLS(cert_file="/c.pem").credentials()


def test_agent_serves_reflection(tiny_bundle: Path) -> None:
    loop = LoopThread()
    agent = loop.call(start_agent(AgentSettings(repository=tiny_bundle, port=0, policy="local")))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{agent.port}") as channel:
            database = ProtoReflectionDescriptorDatabase(channel)
            assert {"splitrank.v1.EdgeAgent", "grpc.health.v1.Health"} <= set(database.get_services())
            assert database.FindFileContainingSymbol("splitrank.v1.RankRequest") is not None
    finally:
        loop.call(agent.stop())
        loop.close()
