"""``splitrank bench cloud``: serving cost, batching gain and overload behaviour of the cloud server,
each measured side by side in one run against server processes on this machine.

The server runs on a core of its own and the load generator (``benchmarks/cloud_load.py``: several
processes, several connections each) on the others, so neither steals the other's CPU; the server's
CPU-seconds per call are read from its own process beside the latency the clients see, and the
generator's own CPU use is printed, so a saturated generator is visible.

- overhead: one client; a split call on a trivial model against a bare grpc.aio echo of the same
  payload on the same server process, in alternating blocks: p50 latency and server CPU per call.
- batching: 64 concurrent clients (closed loop) on the real split reranker, with dynamic batching and
  with ``max_batch_size=1``: throughput, p99, mean batch size, server CPU per call.
- overload: open-loop arrivals at half and at twice the measured capacity, default admission: calls
  shed (time to RESOURCE_EXHAUSTED), p99 of accepted calls, calls that hung (ended DEADLINE_EXCEEDED
  or CANCELLED instead of an answer).
- sweep (``--sweep``): throughput, p99, mean batch size and server CPU per call for each max batch
  size and max queue delay, and the best setting for a p99 target.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc

from benchmarks.cloud_load import HUNG, RERANK_METHOD, LoadResult, LoadSpec, percentile, rerank_requests, run_load
from benchmarks.cloud_server import ECHO_METHOD, TUNE_METHOD
from benchmarks.cores import CoreSplit, cpu_seconds, pin, split_cores
from cloud.serving.core_admission import core_admission_environment
from cloud.serving.settings import DEFAULT_MAX_BATCH_SIZE
from protos.v1 import cloud_pb2
from splitrank.ports import free_port
from splitrank.processes import ManagedProcess, port_open

CAPACITY_ADMISSION = ("--max-queue-wait-ms", "100000", "--no-core-admission")
"""Bench server flags of the throughput phases: every call the clients keep in flight is served, none shed."""


@dataclass(frozen=True)
class BenchServer:
    """Running benchmark server processes (one port, SO_REUSEPORT when several)."""

    port: int
    pids: tuple[int, ...]
    metrics_ports: tuple[int, ...]

    def cpu_seconds(self) -> float:
        """CPU-seconds the server processes used so far."""
        return cpu_seconds(self.pids)

    def batches(self) -> tuple[float, float]:
        """(requests batched, batches run) by the reranker so far, from the servers' Prometheus metrics."""
        requests = batches = 0.0
        for port in self.metrics_ports:
            for line in urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode().splitlines():
                if line.startswith('splitrank_batch_size_sum{model="reranker"}'):
                    requests += float(line.rsplit(" ", 1)[1])
                elif line.startswith('splitrank_batch_size_count{model="reranker"}'):
                    batches += float(line.rsplit(" ", 1)[1])
        return requests, batches


@contextmanager
def server_process(repository: Path, *extra: str, cores: frozenset[int] = frozenset(), workers: int = 1) -> Iterator[BenchServer]:
    """Start ``workers`` benchmark server processes on one port (SO_REUSEPORT), pinned to ``cores`` (empty: not
    pinned); yields once every one serves (its metrics port answers only then)."""
    port, metrics_ports = free_port(), tuple(free_port() for _ in range(workers))
    with ExitStack() as stack:
        servers = []
        for metrics_port in metrics_ports:
            server = stack.enter_context(ManagedProcess(
                [sys.executable, "-m", "benchmarks.cloud_server", "--repository", str(repository), "--port", str(port),
                 "--cpus", ",".join(map(str, sorted(cores))), "--metrics-port", str(metrics_port), *extra], what="the benchmark server",
                env=core_admission_environment()))  # the core sheds with RESOURCE_EXHAUSTED, as in serve-cloud's workers
            servers.append(server.wait_ready(lambda metrics_port=metrics_port: port_open(metrics_port), timeout_s=300))
        yield BenchServer(port, tuple(server.pid for server in servers), metrics_ports)


@dataclass(frozen=True)
class Served:
    """One load phase against one server: what the clients saw and what it cost the server."""

    load: LoadResult
    server_cpu_s: float
    mean_batch_size: float

    @property
    def cpu_per_call_us(self) -> float:
        """Server CPU-microseconds per call answered OK."""
        return self.server_cpu_s / max(self.load.codes.get("OK", 0), 1) * 1e6

    def row(self) -> dict[str, float]:
        """The figures of a sweep row."""
        return {"rps": self.load.ok_rps, "p99_ms": percentile(self.load.ok_ms, 99), "mean_batch_size": self.mean_batch_size,
                "server_cpu_per_call_us": self.cpu_per_call_us, "generator_cpu_fraction": self.load.cpu_fraction}


def serve_load(server: BenchServer, spec: LoadSpec, cores: CoreSplit, processes: int) -> Served:
    """Run one load phase and read the server's CPU and batching over exactly that phase."""
    requests_before, batches_before = server.batches()
    cpu_before = server.cpu_seconds()
    load = run_load(spec, processes=processes, cores=cores.generator)
    server_cpu = server.cpu_seconds() - cpu_before
    requests_after, batches_after = server.batches()
    return Served(load, server_cpu, (requests_after - requests_before) / max(batches_after - batches_before, 1))


async def _overhead(server: BenchServer, requests: list[cloud_pb2.RerankRequest], calls: int, rounds: int = 2) -> dict[str, float]:
    """One client, sequential calls: echo and split in alternating blocks of ``calls``; latency per call
    and the server's CPU per call of each kind."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        echo, rerank = channel.unary_unary(ECHO_METHOD), channel.unary_unary(RERANK_METHOD)  # both send the same bytes
        payload = requests[0].SerializeToString()
        for _ in range(100):  # warm up both paths
            await echo(payload)
            await rerank(payload)
        latency_us: dict[str, list[float]] = {"echo": [], "split": []}
        cpu_s = {"echo": 0.0, "split": 0.0}
        for _ in range(rounds):
            for kind in ("echo", "split"):
                cpu_before = server.cpu_seconds()
                call = echo if kind == "echo" else rerank
                for _ in range(calls):
                    started = time.perf_counter_ns()
                    await call(payload)
                    latency_us[kind].append((time.perf_counter_ns() - started) / 1000)
                cpu_s[kind] += server.cpu_seconds() - cpu_before
    echo_cpu, split_cpu = (cpu_s[kind] / (calls * rounds) * 1e6 for kind in ("echo", "split"))
    echo_p50, split_p50 = percentile(latency_us["echo"], 50), percentile(latency_us["split"], 50)
    return {"echo_p50_us": echo_p50, "split_p50_us": split_p50, "overhead_ratio": split_p50 / echo_p50,
            "echo_cpu_per_call_us": echo_cpu, "split_cpu_per_call_us": split_cpu, "overhead_cpu_ratio": split_cpu / echo_cpu}


def _cores(server_cores: int = 1) -> CoreSplit:
    cores = split_cores(server_cores)
    pin(cores.generator)  # this process is a client too (the overhead phase)
    return cores


def run_cloud_benchmark(bundle: Path, *, calls: int = 2000, clients: int = 64, seconds: float = 8.0, overload_seconds: float = 10.0,
                        deadline_s: float = 2.0, max_delay_ms: float = 2.0, processes: int = 2, workers: int = 1, server_cores: int = 1,
                        progress: Any = print) -> dict[str, Any]:
    """All three measurements; returns the figures (the JSON of ``--format json``)."""
    repository = bundle.parent
    cores = _cores(server_cores)
    requests = rerank_requests(bundle, 512)
    progress(f"server on core(s) {sorted(cores.server)}, load generator ({processes} processes) on {sorted(cores.generator)}")
    progress("overhead: split call on a trivial model vs bare echo, one client")
    with server_process(repository, "--trivial", cores=cores.server) as server:
        overhead = asyncio.run(_overhead(server, requests, calls))
    unbounded_wait = CAPACITY_ADMISSION  # throughput phases measure capacity, not the admission policy
    closed = LoadSpec(port=0, bundle=str(bundle), clients=clients, seconds=seconds, deadline_s=10.0)
    progress(f"batching: {clients} concurrent clients, real reranker, batching on")
    with server_process(repository, "--max-batch-size", str(DEFAULT_MAX_BATCH_SIZE), "--max-delay-ms", str(max_delay_ms), *unbounded_wait,
                        cores=cores.server, workers=workers) as server:
        batched = serve_load(server, replace(closed, port=server.port), cores, processes)
    progress(f"batching: {clients} concurrent clients, real reranker, batching off")
    with server_process(repository, "--max-batch-size", "1", *unbounded_wait, cores=cores.server, workers=workers) as server:
        unbatched = serve_load(server, replace(closed, port=server.port), cores, processes)
    capacity = batched.load.ok_rps
    progress(f"overload: open loop at half ({capacity / 2:.0f}/s) and twice ({capacity * 2:.0f}/s) the capacity, default admission")
    with server_process(repository, "--max-batch-size", str(DEFAULT_MAX_BATCH_SIZE), "--max-delay-ms", str(max_delay_ms), cores=cores.server,
                        workers=workers) as server:
        open_loop = LoadSpec(port=server.port, bundle=str(bundle), seconds=overload_seconds, deadline_s=deadline_s)
        half = serve_load(server, replace(open_loop, open_rate=capacity / 2), cores, processes)
        over = serve_load(server, replace(open_loop, open_rate=capacity * 2), cores, processes)
    figures = {
        "bundle": str(bundle), "payload_bytes": requests[0].ByteSize(), "max_delay_ms": max_delay_ms, "workers": workers,
        "server_cores": sorted(cores.server), "generator_cores": sorted(cores.generator), "cores_separate": cores.separate,
        **overhead,
        "batched_rps": batched.load.ok_rps, "unbatched_rps": unbatched.load.ok_rps, "batching_gain": batched.load.ok_rps / unbatched.load.ok_rps,
        "batched_p99_ms": percentile(batched.load.ok_ms, 99), "unbatched_p99_ms": percentile(unbatched.load.ok_ms, 99),
        "batched_mean_batch_size": batched.mean_batch_size,
        "batched_cpu_per_call_us": batched.cpu_per_call_us, "unbatched_cpu_per_call_us": unbatched.cpu_per_call_us,
        "half_load_rps": half.load.offered_rps, "half_load_p99_ms": percentile(half.load.ok_ms, 99),
        "half_load_hung_fraction": half.load.fraction(*HUNG), "half_load_shed_fraction": half.load.fraction("RESOURCE_EXHAUSTED"),
        "overload_offered_rps": over.load.offered_rps, "overload_ok_rps": over.load.ok_rps, "overload_p99_ms": percentile(over.load.ok_ms, 99),
        "overload_p99_ratio": percentile(over.load.ok_ms, 99) / percentile(half.load.ok_ms, 99),
        "overload_shed_fraction": over.load.fraction("RESOURCE_EXHAUSTED"), "shed_p99_ms": percentile(over.load.shed_ms, 99),
        "overload_hung_fraction": over.load.fraction(*HUNG), "overload_cpu_per_call_us": over.cpu_per_call_us,
        "generator_cpu_fraction": max(phase.load.cpu_fraction for phase in (batched, unbatched, half, over)),
    }
    return {key: None if isinstance(value, float) and math.isnan(value) else value for key, value in figures.items()}  # JSON has no NaN


SWEEP_BATCH_SIZES = (1, 8, 16, 32, 64, 128)
SWEEP_DELAYS_MS = (0.0, 1.0, 2.0, 5.0)


async def _tune(port: int, max_batch_size: int, max_delay_ms: float) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        knobs = {"max_batch_size": max_batch_size, "max_delay_ms": max_delay_ms}
        await channel.unary_unary(TUNE_METHOD)(json.dumps(knobs).encode())


def run_cloud_sweep(bundle: Path, *, p99_target_ms: float, clients: int = 64, seconds: float = 3.0, processes: int = 2,
                    batch_sizes: tuple[int, ...] = SWEEP_BATCH_SIZES, delays_ms: tuple[float, ...] = SWEEP_DELAYS_MS,
                    progress: Any = print) -> dict[str, Any]:
    """Closed-loop throughput, p99, mean batch size and server CPU per call of every (max batch size, max
    queue delay) pair on one server process on its own core, the knobs changed live between runs;
    ``best`` is the highest throughput whose p99 meets the target."""
    cores = _cores()
    rows = []
    with server_process(bundle.parent, "--max-batch-size", str(max(batch_sizes)), *CAPACITY_ADMISSION, cores=cores.server) as server:
        spec = LoadSpec(port=server.port, bundle=str(bundle), clients=clients, seconds=seconds, deadline_s=10.0)
        for size in batch_sizes:
            for delay in delays_ms:
                asyncio.run(_tune(server.port, size, delay))
                measured = serve_load(server, spec, cores, processes).row()
                rows.append({"max_batch_size": size, "max_delay_ms": delay, **measured})
                progress(f"max_batch_size {size:>4}  max_delay_ms {delay:>4.1f}: {measured['rps']:8.0f} calls/s, p99 {measured['p99_ms']:7.1f} ms, "
                         f"mean batch {measured['mean_batch_size']:5.1f}, server CPU {measured['server_cpu_per_call_us']:6.0f} us/call")
    meeting = [row for row in rows if row["p99_ms"] <= p99_target_ms]
    best = max(meeting, key=lambda row: row["rps"]) if meeting else None
    return {"bundle": str(bundle), "clients": clients, "p99_target_ms": p99_target_ms, "runs": rows, "best": best}
