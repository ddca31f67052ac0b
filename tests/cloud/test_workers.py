"""`splitrank serve-cloud --workers 2`: two processes on one port, both serving, both drained by one SIGTERM."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from core.codec import INT8, encode
from protos.v1 import cloud_pb2, cloud_pb2_grpc
from splitrank.ports import free_port
from splitrank.processes import ManagedProcess, splitrank_command

pytestmark = pytest.mark.slow


def _served(metrics_port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("splitrank_requests_total"))


def test_two_workers_share_one_port(tiny_bundle: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_bundle, tmp_path / "1")
    port, metrics = free_port(), free_port()
    while metrics + 1 == port:
        metrics = free_port()
    with ManagedProcess(splitrank_command("serve-cloud", "--repository", str(tmp_path), "--port", str(port), "--workers", "2",
                                          "--metrics-port", str(metrics), "--log-level", "WARNING"), what="serve-cloud --workers 2") as server:
        server.wait_ready(lambda: _served(metrics + 1) >= 0 and _served(metrics) >= 0, timeout_s=120)
        student = json.loads((tiny_bundle / "manifest.json").read_text())["models"]["student"]
        n_items, dim = int(student["n_items"]), int(student["dim"])
        rng = np.random.default_rng(0)
        for _ in range(24):  # a connection each: the kernel spreads connections over the workers
            with grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
                assert health.status == health_pb2.HealthCheckResponse.SERVING
                ids = rng.choice(np.arange(1, n_items), 8, replace=False)
                answer = cloud_pb2_grpc.CloudRankerStub(channel).Rerank(cloud_pb2.RerankRequest(
                    user_embedding=encode(rng.normal(size=dim).astype(np.float32), INT8).to_proto(), candidate_ids=ids.tolist(),
                    edge_scores=[0.0] * 8, k=3), timeout=10)
                assert len(answer.item_ids) == 3
        assert _served(metrics) > 0 and _served(metrics + 1) > 0  # both workers answered
        assert server.stop(30) == 0, server.output_tail()  # SIGTERM drains both workers
