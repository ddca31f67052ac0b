"""``splitrank bench cloud``: serving overhead, batching gain and overload behaviour of the cloud
server, each measured side by side in one run against server processes on this machine.

- overhead: one client; a split call on a trivial model against a bare grpc.aio echo of the same
  payload on the same server process, interleaved.
- batching: 64 concurrent clients on the real split reranker, with dynamic batching and with
  ``max_batch_size=1``; shed calls back off by their ``retry-after-ms`` hint; completed calls count.
- overload: open-loop arrivals at half and at twice the measured saturation rate; shed share, p99 of
  accepted calls, and calls that ran into their deadline.
- sweep (``--sweep``): throughput and p99 for each max batch size and max queue delay, and the best
  setting for a p99 target.
Clients and server share the machine's cores: compare ratios, not absolute figures.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from benchmarks.cloud_server import CODES_METHOD, ECHO_METHOD, TUNE_METHOD
from core.bundle import load_manifest
from core.codec import INT8, encode
from protos.v1 import cloud_pb2, cloud_pb2_grpc
from splitrank.ports import free_port
from splitrank.processes import ManagedProcess, port_open


@contextmanager
def server_process(repository: Path, *extra: str) -> Iterator[int]:
    """Start a benchmark server process; yields its port once it listens (it listens once its models are loaded)."""
    port = free_port()
    with ManagedProcess([sys.executable, "-m", "benchmarks.cloud_server", "--repository", str(repository), "--port", str(port), *extra],
                        what="the benchmark server") as server:
        server.wait_ready(lambda: port_open(port), timeout_s=300)
        yield port


def _requests(bundle: Path, count: int, seed: int = 0) -> list[cloud_pb2.RerankRequest]:
    student = load_manifest(bundle).models["student"]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        ids = rng.choice(np.arange(1, int(student["n_items"])), size=int(student["candidates"]), replace=False)
        out.append(cloud_pb2.RerankRequest(user_embedding=encode(rng.normal(size=int(student["dim"])), INT8).to_proto(),
                                           candidate_ids=ids.tolist(), edge_scores=np.sort(rng.normal(size=len(ids)))[::-1].tolist(),
                                           k=10, unix_time_s=1317427200))
    return out


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def _overhead(port: int, requests: list[cloud_pb2.RerankRequest], calls: int) -> tuple[float, float]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = cloud_pb2_grpc.CloudRankerStub(channel)
        echo = channel.unary_unary(ECHO_METHOD)
        payloads = [r.SerializeToString() for r in requests]
        echo_us, split_us = [], []
        for i in range(calls):
            start = time.perf_counter_ns()
            await echo(payloads[i % len(payloads)])
            echo_us.append((time.perf_counter_ns() - start) / 1000)
            start = time.perf_counter_ns()
            await stub.Rerank(requests[i % len(requests)])
            split_us.append((time.perf_counter_ns() - start) / 1000)
    return _p(echo_us[calls // 10 :], 50), _p(split_us[calls // 10 :], 50)


RERANK_METHOD = "/splitrank.v1.CloudRanker/Rerank"
"""The load phases send pre-serialized requests and leave answers unparsed: the load generator shares the
machine with the server, and every microsecond it spends is one the server does not get."""


async def _closed_loop(port: int, requests: list[cloud_pb2.RerankRequest], clients: int, seconds: float) -> dict[str, float]:
    """Completed calls per second and the p99 latency of completed calls; shed calls back off by their hint."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        rerank = channel.unary_unary(RERANK_METHOD)
        payloads = [r.SerializeToString() for r in requests]
        for payload in payloads[:clients]:  # warm up
            await rerank(payload)
        latencies: list[float] = []
        stop = time.monotonic() + seconds

        async def client(offset: int) -> None:
            i = offset
            while time.monotonic() < stop:
                start = time.perf_counter()
                try:
                    await rerank(payloads[i % len(payloads)], timeout=10)
                except grpc.aio.AioRpcError as err:
                    if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                        raise
                    hint = dict(err.trailing_metadata() or ()).get("retry-after-ms", "1")
                    await asyncio.sleep(int(hint) / 1000)  # back off as told, as a real client would
                    continue
                latencies.append((time.perf_counter() - start) * 1000)
                i += clients

        started = time.monotonic()
        await asyncio.gather(*(client(c) for c in range(clients)))
        return {"rps": len(latencies) / (time.monotonic() - started), "p99_ms": _p(latencies, 99)}


async def _open_loop(port: int, requests: list[cloud_pb2.RerankRequest], rate: float, seconds: float, deadline_s: float) -> dict[str, float]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        rerank = channel.unary_unary(RERANK_METHOD)
        latencies: list[float] = []
        codes: dict[str, int] = {}

        async def one(request: bytes) -> None:
            start = time.perf_counter()
            try:
                await rerank(request, timeout=deadline_s)
                latencies.append((time.perf_counter() - start) * 1000)
                codes["OK"] = codes.get("OK", 0) + 1
            except grpc.aio.AioRpcError as err:
                codes[err.code().name] = codes.get(err.code().name, 0) + 1
                details.setdefault(err.code().name, err.details() or "")

        details: dict[str, str] = {}
        payloads = [r.SerializeToString() for r in requests]
        tasks = []
        started = time.monotonic()
        total = int(rate * seconds)
        for i in range(total):
            target = started + i / rate
            delay = target - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(payloads[i % len(payloads)])))
        offered = total / max(time.monotonic() - started, 1e-9)
        await asyncio.gather(*tasks)
        sent = max(sum(codes.values()), 1)
        return {"offered_rps": offered, "p99_ms": _p(latencies, 99), "shed_fraction": codes.get("RESOURCE_EXHAUSTED", 0) / sent,
                "deadline_exceeded": float(codes.get("DEADLINE_EXCEEDED", 0)), "ok": float(codes.get("OK", 0)), "codes": codes,
                "details": details}


def run_cloud_benchmark(bundle: Path, *, calls: int = 1500, clients: int = 64, seconds: float = 8.0, deadline_s: float = 2.0,
                        max_delay_ms: float = 2.0, progress: Any = print) -> dict[str, Any]:
    """All three measurements; returns the figures (the JSON of ``--format json``)."""
    repository = bundle.parent
    requests = _requests(bundle, 512)
    progress("overhead: split call on a trivial model vs bare echo, one client")
    with server_process(repository, "--trivial") as port:
        echo_p50, split_p50 = asyncio.run(_overhead(port, requests, calls))
    unbounded_wait = ("--max-queue-wait-ms", "100000")  # throughput phases measure capacity, not the admission policy
    progress(f"batching: {clients} concurrent clients, real reranker, batching on")
    with server_process(repository, "--max-batch-size", "64", "--max-delay-ms", str(max_delay_ms), *unbounded_wait) as port:
        batched = asyncio.run(_closed_loop(port, requests, clients, seconds))["rps"]
    progress(f"batching: {clients} concurrent clients, real reranker, batching off")
    with server_process(repository, "--max-batch-size", "1", *unbounded_wait) as port:
        unbatched = asyncio.run(_closed_loop(port, requests, clients, seconds))["rps"]
    progress(f"overload: open loop at half ({batched / 2:.0f}/s) and twice ({batched * 2:.0f}/s) the saturation rate, default admission")
    with server_process(repository, "--max-batch-size", "64", "--max-delay-ms", str(max_delay_ms)) as port:
        half = asyncio.run(_open_loop(port, requests, batched / 2, seconds, deadline_s))
        before = asyncio.run(_server_codes(port))
        over = asyncio.run(_open_loop(port, requests, batched * 2, seconds, deadline_s))
        after = asyncio.run(_server_codes(port))
        server_side = {code: after.get(code, 0) - before.get(code, 0) for code in after}
    return {
        "bundle": str(bundle), "payload_bytes": requests[0].ByteSize(), "max_delay_ms": max_delay_ms,
        "echo_p50_us": echo_p50, "split_p50_us": split_p50, "overhead_ratio": split_p50 / echo_p50,
        "batched_rps": batched, "unbatched_rps": unbatched, "batching_gain": batched / unbatched,
        "half_load_rps": half["offered_rps"], "half_load_p99_ms": half["p99_ms"],
        "overload_offered_rps": over["offered_rps"], "overload_p99_ms": over["p99_ms"], "overload_shed_fraction": over["shed_fraction"],
        "overload_p99_ratio": over["p99_ms"] / half["p99_ms"], "overload_deadline_exceeded": over["deadline_exceeded"],
        "half_load_deadline_exceeded": half["deadline_exceeded"],
        # what the server itself answered during the overload phase: client-side timeouts beyond these never reached it in time
        "overload_client_codes": over["codes"], "overload_client_details": over["details"], "overload_server_ok": server_side.get("OK", 0.0), "overload_server_shed": server_side.get("RESOURCE_EXHAUSTED", 0.0),
        "overload_server_deadline_exceeded": server_side.get("DEADLINE_EXCEEDED", 0.0),
    }


async def _server_codes(port: int) -> dict[str, float]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        return json.loads(await channel.unary_unary(CODES_METHOD)(b""))


SWEEP_BATCH_SIZES = (1, 8, 16, 32, 64, 128)
SWEEP_DELAYS_MS = (0.0, 1.0, 2.0, 5.0)


async def _tune(port: int, max_batch_size: int, max_delay_ms: float) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        knobs = {"max_batch_size": max_batch_size, "max_delay_ms": max_delay_ms}
        await channel.unary_unary(TUNE_METHOD)(json.dumps(knobs).encode())


def run_cloud_sweep(bundle: Path, *, p99_target_ms: float, clients: int = 64, seconds: float = 3.0,
                    batch_sizes: tuple[int, ...] = SWEEP_BATCH_SIZES, delays_ms: tuple[float, ...] = SWEEP_DELAYS_MS,
                    progress: Any = print) -> dict[str, Any]:
    """Closed-loop throughput and p99 of every (max batch size, max queue delay) pair on one server process,
    the knobs changed live between runs; ``best`` is the highest throughput whose p99 meets the target."""
    requests = _requests(bundle, 512)
    rows = []
    with server_process(bundle.parent, "--max-queue-wait-ms", "100000") as port:
        for size in batch_sizes:
            for delay in delays_ms:
                asyncio.run(_tune(port, size, delay))
                measured = asyncio.run(_closed_loop(port, requests, clients, seconds))
                rows.append({"max_batch_size": size, "max_delay_ms": delay, **measured})
                progress(f"max_batch_size {size:>4}  max_delay_ms {delay:>4.1f}: {measured['rps']:8.0f} calls/s, p99 {measured['p99_ms']:7.1f} ms")
    meeting = [row for row in rows if row["p99_ms"] <= p99_target_ms]
    best = max(meeting, key=lambda row: row["rps"]) if meeting else None
    return {"bundle": str(bundle), "clients": clients, "p99_target_ms": p99_target_ms, "runs": rows, "best": best}
