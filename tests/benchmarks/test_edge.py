"""``splitrank bench edge``'s latency phase on the tiny bundle: the agent in its own process through the SDK,
a bare grpc.aio echo process, and EdgeRanker in a child process; the keys the issue names, from one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.edge import local_latency

pytestmark = pytest.mark.slow


def test_local_latency_prints_the_ratio_and_the_in_process_figure(tiny_bundle: Path) -> None:
    codes = json.loads((tiny_bundle / "catalogue.json").read_text())["codes"]
    requests = [[(codes[i], float(i), 1.0) for i in range(1, n)] for n in range(2, 12)]
    figures = local_latency(tiny_bundle, requests, calls=30)
    assert figures["local_over_echo"] == pytest.approx(figures["local_p50_ms"] / figures["echo_p50_ms"])
    assert 0 < figures["inprocess_p50_ms"] <= figures["inprocess_p99_ms"]
    assert 0 < figures["agent_p50_ms"] < figures["local_p50_ms"]
    assert 0 < figures["agent_edge_p50_ms"] < figures["agent_p50_ms"], "the edge step is part of the agent's own time"
    assert 0 < figures["inprocess_edge_p50_ms"] < figures["inprocess_p50_ms"]
