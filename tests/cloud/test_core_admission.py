"""gRPC's core sheds what the event loop cannot take: `splitrank serve-cloud` over real sockets, a burst far
past what one event loop takes, every call answered or refused with RESOURCE_EXHAUSTED, none hung."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest

from cloud.serving.core_admission import SHEDDING_EXPERIMENT, core_admission_environment, core_admission_options
from core.codec import INT8, encode
from protos.v1 import cloud_pb2, cloud_pb2_grpc
from splitrank.ports import free_port
from splitrank.processes import ManagedProcess, port_open, splitrank_command, wait_until

CORE_REFUSAL = "Too many pending requests for this server"


def test_environment_adds_the_experiment_and_keeps_the_others() -> None:
    assert core_admission_environment({})["GRPC_EXPERIMENTS"] == SHEDDING_EXPERIMENT
    assert core_admission_environment({"GRPC_EXPERIMENTS": "tcp_rcv_lowat"})["GRPC_EXPERIMENTS"] == f"tcp_rcv_lowat,{SHEDDING_EXPERIMENT}"
    opted_out = f"-{SHEDDING_EXPERIMENT}"
    assert core_admission_environment({"GRPC_EXPERIMENTS": opted_out})["GRPC_EXPERIMENTS"] == opted_out


def test_the_core_is_bounded_only_where_it_refuses_with_resource_exhausted() -> None:
    assert core_admission_options(64, {}) == []  # the default transport would drop refused calls (CANCELLED)
    options = dict(core_admission_options(64, core_admission_environment({})))
    assert options == {"grpc.server.max_pending_requests": 16, "grpc.server.max_pending_requests_hard_limit": 32}


def _requests(bundle: Path, count: int) -> list[bytes]:
    student = json.loads((bundle / "manifest.json").read_text())["models"]["student"]
    n_items, dim = int(student["n_items"]), int(student["dim"])
    rng = np.random.default_rng(3)
    return [cloud_pb2.RerankRequest(user_embedding=encode(rng.normal(size=dim).astype(np.float32), INT8).to_proto(),
                                    candidate_ids=rng.choice(np.arange(1, n_items), 16, replace=False).tolist(),
                                    edge_scores=[0.0] * 16, k=3).SerializeToString() for _ in range(count)]


@pytest.mark.slow
def test_a_burst_past_the_event_loop_is_shed_by_the_core_and_no_call_hangs(tiny_bundle: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_bundle, tmp_path / "1")
    port = free_port()
    command = splitrank_command("serve-cloud", "--repository", str(tmp_path), "--port", str(port), "--max-batch-size", "8",
                                "--max-queue", "16", "--log-level", "WARNING")
    with ManagedProcess(command, what="serve-cloud") as server:
        server.wait_ready(lambda: port_open(port), timeout_s=180)
        payloads = _requests(tiny_bundle, 64)

        def burst(connection: int) -> list[tuple[str, str]]:
            """600 calls started at once on one connection; (code, details) of each."""
            with grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                rerank = channel.unary_unary("/splitrank.v1.CloudRanker/Rerank")
                grpc.channel_ready_future(channel).result(timeout=30)
                futures = [rerank.future(payloads[i % len(payloads)], timeout=60) for i in range(600)]
                outcomes = []
                for future in futures:
                    try:
                        future.result()
                        outcomes.append(("OK", ""))
                    except grpc.RpcError as err:
                        outcomes.append((err.code().name, err.details() or ""))
                return outcomes

        with ThreadPoolExecutor(4) as pool:
            outcomes = [outcome for part in pool.map(burst, range(4)) for outcome in part]
        codes = Counter(code for code, _ in outcomes)
        assert set(codes) <= {"OK", "RESOURCE_EXHAUSTED"}, f"calls hung or failed: {codes}"
        assert codes["OK"] > 0, codes
        assert any(details == CORE_REFUSAL for _, details in outcomes), f"the core shed nothing: {Counter(outcomes).most_common(4)}"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:  # still serving once the burst is over
            answer = cloud_pb2_grpc.CloudRankerStub(channel).Rerank(cloud_pb2.RerankRequest.FromString(payloads[0]), timeout=30)
            assert len(answer.item_ids) == 3
        assert server.stop(30) == 0, server.output_tail()


@pytest.mark.slow
def test_the_server_process_ends_with_serve_cloud_even_when_killed(tiny_bundle: Path, tmp_path: Path) -> None:
    """serve-cloud runs its server in a worker process: killing serve-cloud outright must not leave it holding the port."""
    shutil.copytree(tiny_bundle, tmp_path / "1")
    port = free_port()
    with ManagedProcess(splitrank_command("serve-cloud", "--repository", str(tmp_path), "--port", str(port), "--log-level", "WARNING"),
                        what="serve-cloud") as server:
        server.wait_ready(lambda: port_open(port), timeout_s=180)
        server.popen.kill()
        server.popen.wait(10)
        wait_until(lambda: not port_open(port), timeout_s=30, what="the worker to end with its parent")
