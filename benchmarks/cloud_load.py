"""Load generator for ``splitrank bench cloud``: several processes, each with several connections, on
cores the server does not use. Open loop (calls start on a fixed schedule whatever the answers do, as
users arrive) or closed loop (each client waits for its answer; a shed call backs off by its
``retry-after-ms`` hint). Requests are pre-serialized and answers left unparsed, so the generator
spends its CPU on calls, not on protobuf; each process reports the CPU it used, so a saturated
generator shows.

Each process runs ``python -m benchmarks.cloud_load SPEC_JSON``: it connects, prints ``READY``, starts
when a line arrives on stdin, and prints one JSON line with what it saw.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from core.bundle import load_manifest
from core.codec import INT8, encode
from protos.v1 import cloud_pb2

RERANK_METHOD = "/splitrank.v1.CloudRanker/Rerank"
HUNG = ("DEADLINE_EXCEEDED", "CANCELLED")
"""Codes of a call that ended without an answer: it hung instead of being served or shed."""


def rerank_requests(bundle: Path, count: int, seed: int = 0) -> list[cloud_pb2.RerankRequest]:
    """Split calls shaped like the bundle's edge output: int8 u, the full candidate list, sorted edge scores."""
    student = load_manifest(bundle).models["student"]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        ids = rng.choice(np.arange(1, int(student["n_items"])), size=int(student["candidates"]), replace=False)
        out.append(cloud_pb2.RerankRequest(user_embedding=encode(rng.normal(size=int(student["dim"])), INT8).to_proto(),
                                           candidate_ids=ids.tolist(), edge_scores=np.sort(rng.normal(size=len(ids)))[::-1].tolist(),
                                           k=10, unix_time_s=1317427200))
    return out


@dataclass(frozen=True)
class LoadSpec:
    """One load phase, for all generator processes together."""

    port: int
    bundle: str
    method: str = RERANK_METHOD
    open_rate: float = 0.0
    """Calls per second started on schedule (open loop); 0 for a closed loop of ``clients``."""
    clients: int = 64
    seconds: float = 8.0
    deadline_s: float = 2.0
    connections: int = 4
    """Connections per process."""


@dataclass(frozen=True)
class LoadResult:
    """What the generator processes saw, merged."""

    wall_s: float
    sent: int
    codes: dict[str, int]
    ok_ms: list[float]
    shed_ms: list[float]
    cpu_s: float
    generator_cores: int

    @property
    def ok_rps(self) -> float:
        """Calls answered OK per second."""
        return self.codes.get("OK", 0) / self.wall_s

    @property
    def offered_rps(self) -> float:
        """Calls started per second."""
        return self.sent / self.wall_s

    def fraction(self, *codes: str) -> float:
        """Share of the calls started that ended with one of these codes."""
        return sum(self.codes.get(code, 0) for code in codes) / max(self.sent, 1)

    @property
    def cpu_fraction(self) -> float:
        """CPU the generator used / the CPU its cores offered over the phase (near 1: the generator was the bottleneck)."""
        return self.cpu_s / (self.wall_s * self.generator_cores)


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile; NaN when there are no values."""
    array = np.asarray(list(values), float)
    return float(np.percentile(array, q)) if array.size else float("nan")


def run_load(spec: LoadSpec, *, processes: int, cores: Iterable[int]) -> LoadResult:
    """Run one phase in ``processes`` generator processes pinned to ``cores``; returns the merged result."""
    cores = sorted(cores)
    children = []
    for index in range(processes):
        share = _share(spec, index, processes)
        children.append(subprocess.Popen([sys.executable, "-m", "benchmarks.cloud_load", json.dumps(asdict(share)), ",".join(map(str, cores)),
                                          str(index)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    try:
        for child in children:
            line = child.stdout.readline() if child.stdout else ""
            if line.strip() != "READY":
                raise RuntimeError(f"load generator did not start: {line!r}")
        for child in children:  # all start together
            assert child.stdin is not None
            child.stdin.write("GO\n")
            child.stdin.flush()
        parts = [json.loads(child.communicate(timeout=spec.seconds + spec.deadline_s + 60)[0]) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    codes: dict[str, int] = {}
    for part in parts:
        for code, count in part["codes"].items():
            codes[code] = codes.get(code, 0) + count
    return LoadResult(wall_s=max(part["wall_s"] for part in parts), sent=sum(part["sent"] for part in parts), codes=codes,
                      ok_ms=[v for part in parts for v in part["ok_ms"]], shed_ms=[v for part in parts for v in part["shed_ms"]],
                      cpu_s=sum(part["cpu_s"] for part in parts), generator_cores=len(cores))


def _share(spec: LoadSpec, index: int, processes: int) -> LoadSpec:
    """Process ``index``'s share of the phase: the rate or the clients divided over the processes."""
    clients = spec.clients // processes + (1 if index < spec.clients % processes else 0)
    return replace(spec, open_rate=spec.open_rate / processes, clients=clients)


class _Recorder:
    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.ok_ms: list[float] = []
        self.shed_ms: list[float] = []

    def record(self, code: str, started: float) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1
        if code == "OK":
            self.ok_ms.append((time.perf_counter() - started) * 1000)
        elif code == "RESOURCE_EXHAUSTED":
            self.shed_ms.append((time.perf_counter() - started) * 1000)


async def _generate(spec: LoadSpec, seed: int) -> dict[str, Any]:
    payloads = [r.SerializeToString() for r in rerank_requests(Path(spec.bundle), 256, seed)]
    if spec.method != RERANK_METHOD:
        payloads = payloads[:1]
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{spec.port}", options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(spec.connections)]  # a subchannel pool of its own: one connection per channel
    calls = [channel.unary_unary(spec.method) for channel in channels]
    for channel in channels:
        await asyncio.wait_for(channel.channel_ready(), 30)  # connected before the clock starts
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    recorder = _Recorder()
    cpu_started, started = time.process_time(), time.monotonic()
    sent = await (_open_loop(spec, calls, payloads, recorder, started) if spec.open_rate > 0
                  else _closed_loop(spec, calls, payloads, recorder, started))
    wall_s, cpu_s = time.monotonic() - started, time.process_time() - cpu_started
    for channel in channels:
        await channel.close()
    return {"wall_s": wall_s, "cpu_s": cpu_s, "sent": sent, "codes": recorder.codes, "ok_ms": recorder.ok_ms, "shed_ms": recorder.shed_ms}


async def _one(call: grpc.aio.UnaryUnaryMultiCallable, payload: bytes, deadline_s: float, recorder: _Recorder) -> float:
    """One call, recorded; returns the seconds a shed call was told to wait (0 otherwise)."""
    started = time.perf_counter()
    try:
        await call(payload, timeout=deadline_s)
        recorder.record("OK", started)
        return 0.0
    except grpc.aio.AioRpcError as err:
        recorder.record(err.code().name, started)
        if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            return 0.0
        return int(dict(err.trailing_metadata() or ()).get("retry-after-ms", "1")) / 1000


async def _open_loop(spec: LoadSpec, calls: list[grpc.aio.UnaryUnaryMultiCallable], payloads: list[bytes], recorder: _Recorder,
                     started: float) -> int:
    """Start calls on schedule, every millisecond those that are due; never wait for answers before sending."""
    total = int(spec.open_rate * spec.seconds)
    pending: set[asyncio.Task[float]] = set()
    sent = 0
    while sent < total:
        due = min(total, int((time.monotonic() - started) * spec.open_rate) + 1)
        for i in range(sent, due):
            task = asyncio.ensure_future(_one(calls[i % len(calls)], payloads[i % len(payloads)], spec.deadline_s, recorder))
            pending.add(task)
            task.add_done_callback(pending.discard)
        sent = due
        await asyncio.sleep(0.001)
    if pending:
        await asyncio.wait(pending)
    return sent


async def _closed_loop(spec: LoadSpec, calls: list[grpc.aio.UnaryUnaryMultiCallable], payloads: list[bytes], recorder: _Recorder,
                       started: float) -> int:
    stop = started + spec.seconds
    sent = 0

    async def client(index: int) -> None:
        nonlocal sent
        i = index
        while time.monotonic() < stop:
            sent += 1
            back_off_s = await _one(calls[index % len(calls)], payloads[i % len(payloads)], spec.deadline_s, recorder)
            if back_off_s:
                await asyncio.sleep(back_off_s)  # shed: come back when told, as a real client would
            i += spec.clients

    await asyncio.gather(*(client(c) for c in range(spec.clients)))
    return sent


def main() -> None:
    spec = LoadSpec(**json.loads(sys.argv[1]))
    os.sched_setaffinity(0, {int(core) for core in sys.argv[2].split(",")})
    print(json.dumps(asyncio.run(_generate(spec, seed=int(sys.argv[3])))), flush=True)


if __name__ == "__main__":
    main()
