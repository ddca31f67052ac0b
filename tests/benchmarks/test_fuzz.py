"""Hostile bytes against the running cloud server and agent over real sockets: every malformed input is
answered INVALID_ARGUMENT, nothing crashes, and both keep serving. Derandomized in CI (the ``ci`` profile);
``SPLITRANK_FUZZ_EXAMPLES=2000`` for a longer run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from benchmarks.fuzz import AGENT_TARGETS, CLOUD_TARGETS, examples_from_env, fuzz_services
from cloud.serving.server import ServeSettings
from edge.server import AgentSettings, RunningAgent, start_agent
from tests.cloud.server_thread import ServerThread
from tests.loop_thread import LoopThread

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def services(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, RunningAgent]]:
    root = tmp_path_factory.mktemp("fuzz-cloud")
    shutil.copytree(tiny_bundle, root / tiny_bundle.name)
    cloud = ServerThread(ServeSettings(repository=root, port=0))
    loop = LoopThread()
    agent = loop.call(start_agent(AgentSettings(repository=tiny_bundle, port=0, policy="learned", cloud=f"c0=127.0.0.1:{cloud.running.port}")))
    yield cloud, agent
    loop.call(agent.stop())
    loop.close()
    cloud.close()


def test_fuzzed_services_answer_invalid_argument_and_keep_serving(services: tuple[ServerThread, RunningAgent], tiny_bundle: Path) -> None:
    cloud, agent = services
    report = fuzz_services(f"127.0.0.1:{cloud.running.port}", f"127.0.0.1:{agent.port}", tiny_bundle, examples_from_env(30))
    assert [row["method"] for row in report["methods"]] == [t.method for t in CLOUD_TARGETS + AGENT_TARGETS]
    for row in report["methods"]:
        assert row["inputs"] >= 10 and row["undecodable"] > 0, row
        assert row["crashes"] == 0 and row["unexpected_codes"] == 0, row
        assert row["codes"].get("INVALID_ARGUMENT", 0) >= row["undecodable"], row
    assert report["cloud_serving_after"] and report["agent_serving_after"]
    # refused calls are in the request metrics (they were missing before)
    counted = {s.labels["method"]: s.value for m in cloud.running.metrics.registry.collect() for s in m.samples
               if s.name == "splitrank_requests_total" and s.labels["code"] == "INVALID_ARGUMENT"}
    rerank = next(row for row in report["methods"] if row["method"].endswith("/Rerank"))
    assert counted["Rerank"] == rerank["codes"]["INVALID_ARGUMENT"]
    assert agent.service.stats.invalid >= next(row for row in report["methods"] if row["method"].endswith("/Rank"))["undecodable"]


@pytest.mark.parametrize("method, payload", [
    ("/splitrank.v1.CloudRanker/Rerank", b"\xff\xff\xff"),
    ("/inference.GRPCInferenceService/ModelInfer", b"\x0a\x10short"),
])
def test_malformed_cloud_calls_are_invalid_argument(services: tuple[ServerThread, RunningAgent], method: str, payload: bytes) -> None:
    cloud, _ = services
    with grpc.insecure_channel(f"127.0.0.1:{cloud.running.port}") as channel, pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary(method)(payload, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "malformed request" in caught.value.details()
