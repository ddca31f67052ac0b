"""The reranker on a local Ray Serve (num_cpus=2, gRPC ingress): an agent's split call ranks as it does on
the standalone server, bad input keeps its status code, and a version update under load loses no call."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from benchmarks.cloud_load import rerank_requests
from cloud.serving.settings import ServeSettings
from edge.server import AgentSettings
from protos.v1 import cloud_pb2, cloud_pb2_grpc
from splitrank.netem import NetemProxy, NetworkProfile
from splitrank.ports import free_port
from tests.cloud.server_thread import ServerThread
from tests.edge.agent_thread import AgentThread
from tests.histories import catalogue_history

pytest.importorskip("ray.serve", reason="the [ray] extra is not installed")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_serve(repository: Path) -> Iterator[ServeSettings]:
    import ray
    from ray import serve

    from cloud.serving.ray_app import start_ray_serve

    settings = ServeSettings(repository=repository, port=free_port(), ray_http_port=free_port(), engine="ray", max_delay_ms=2.0)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        start_ray_serve(settings)
        yield settings
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="module")
def stub(ray_serve: ServeSettings) -> Iterator[cloud_pb2_grpc.CloudRankerStub]:
    with grpc.insecure_channel(f"127.0.0.1:{ray_serve.port}") as channel:
        yield cloud_pb2_grpc.CloudRankerStub(channel)


def test_an_agents_split_call_through_ray_serve_ranks_as_the_standalone_server(tiny_bundle: Path, repository: Path,
                                                                              ray_serve: ServeSettings) -> None:
    standalone = ServerThread(ServeSettings(repository=repository, port=0))
    agents = [AgentThread(AgentSettings(repository=tiny_bundle, policy="local"), [NetemProxy("127.0.0.1", port, NetworkProfile("lan", 0.0))])
              for port in (standalone.running.port, ray_serve.port)]
    try:
        for n in (1, 3, 8):
            history = catalogue_history(tiny_bundle, n)
            on_standalone, on_ray = (agent.client.rank(history, k=10, deadline_s=20, route="split") for agent in agents)
            assert (on_ray.route, on_ray.degraded) == ("split", False), on_ray.degraded_reason
            assert (on_standalone.route, on_standalone.degraded) == ("split", False), on_standalone.degraded_reason
            assert on_ray.item_ids == on_standalone.item_ids
            assert on_ray.scores == pytest.approx(on_standalone.scores, abs=1e-4)
    finally:
        for agent in agents:
            agent.close()
        standalone.close()


def test_bad_input_keeps_its_status_code_through_ray(stub: cloud_pb2_grpc.CloudRankerStub, tiny_bundle: Path) -> None:
    with pytest.raises(grpc.RpcError) as empty:
        stub.Rerank(cloud_pb2.RerankRequest(), timeout=20)
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "candidate" in empty.value.details()
    pinned = rerank_requests(tiny_bundle, 1)[0]
    pinned.model_version = "99"
    with pytest.raises(grpc.RpcError) as unknown:
        stub.Rerank(pinned, timeout=20)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_version_update_under_load_loses_no_call(stub: cloud_pb2_grpc.CloudRankerStub, ray_serve: ServeSettings, repository: Path,
                                                   tiny_bundle: Path) -> None:
    from cloud.serving.ray_app import deploy

    shutil.copytree(tiny_bundle, repository / "2")
    requests = rerank_requests(tiny_bundle, 32)
    served: list[str] = []
    failed: list[str] = []
    stop = threading.Event()

    def load() -> None:
        i = 0
        while not stop.is_set():
            try:
                served.append(stub.Rerank(requests[i % len(requests)], timeout=20).model_version)
            except grpc.RpcError as err:
                failed.append(f"{err.code().name}: {err.details()}")
            i += 1

    callers = [threading.Thread(target=load) for _ in range(4)]
    for caller in callers:
        caller.start()
    try:
        time.sleep(1.0)
        deploy(ray_serve, model_version="2")
        deadline = time.monotonic() + 120
        while (not served or served[-1] != "2") and time.monotonic() < deadline:  # the replica loads version 2 beside 1
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        stop.set()
        for caller in callers:
            caller.join(30)
    assert failed == []
    assert served[0] == "1" and served[-1] == "2" and len(served) > 20
    assert served.index("2") > 0 and "1" not in served[served.index("2") + 8 :]  # switched over, not back
