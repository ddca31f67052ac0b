"""``splitrank bench cloud``'s measurement parts against a real benchmark server: pinned processes,
server CPU read from the server process, open- and closed-loop load from several generator processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from benchmarks.cloud import _overhead, serve_load, server_process
from benchmarks.cloud_load import LoadSpec, rerank_requests
from benchmarks.cores import cpu_seconds, split_cores

pytestmark = pytest.mark.slow


def test_cores_are_split_and_cpu_is_read_from_the_process() -> None:
    cores = split_cores(server_cores=1)
    assert cores.server and cores.generator
    assert cores.separate == (len(os.sched_getaffinity(0)) > 1)
    before, started = cpu_seconds([os.getpid()]), time.process_time()
    while time.process_time() - started < 0.3:
        pass
    assert cpu_seconds([os.getpid()]) - before >= 0.2


def test_open_and_closed_loop_load_against_a_pinned_server(tiny_bundle: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_bundle, tmp_path / "1")
    cores = split_cores(server_cores=1)
    with server_process(tmp_path, "--max-batch-size", "8", cores=cores.server) as server:
        assert os.sched_getaffinity(server.pids[0]) == set(cores.server)
        spec = LoadSpec(port=server.port, bundle=str(tmp_path / "1"), open_rate=150, seconds=1.0, deadline_s=5.0, connections=2)
        opened = serve_load(server, spec, cores, processes=2)
        closed = serve_load(server, LoadSpec(port=server.port, bundle=str(tmp_path / "1"), clients=6, seconds=1.0, deadline_s=5.0), cores,
                            processes=2)
    with server_process(tmp_path, "--trivial", cores=cores.server) as trivial:  # the overhead phase's server, as the bench runs it
        overhead = asyncio.run(_overhead(trivial, rerank_requests(tmp_path / "1", 4), calls=500, rounds=1))  # >= 50 ms of server CPU each: several clock ticks
    assert overhead["echo_p50_us"] > 0 and overhead["split_p50_us"] > 0
    assert overhead["split_cpu_per_call_us"] > 0 and overhead["echo_cpu_per_call_us"] > 0
    assert overhead["overhead_cpu_ratio"] == overhead["split_cpu_per_call_us"] / overhead["echo_cpu_per_call_us"]
    assert opened.load.sent == sum(opened.load.codes.values()) == 150
    assert opened.load.codes == {"OK": 150} and len(opened.load.ok_ms) == 150
    assert closed.load.codes.get("OK", 0) >= 6 and closed.load.sent == sum(closed.load.codes.values())
    for served in (opened, closed):
        assert served.server_cpu_s > 0 and served.cpu_per_call_us > 0
        assert 0 < served.load.cpu_fraction and served.load.generator_cores == len(cores.generator)
        assert served.mean_batch_size >= 1
