"""The deadline guarantee over real sockets: a cloud that never answers (a TCP server that accepts and never
replies; a gRPC server whose handler sleeps) still gives every forced-split and forced-cloud request its edge
answer, marked degraded, before the app's deadline, while busy-loop processes keep every core busy. Both ways
of running the device: the agent behind the SDK, and ``EdgeRanker`` in the app's process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from edge.server import AgentSettings, start_agent
from splitrank import Client, EdgeRanker
from tests.loop_thread import LoopThread

pytestmark = pytest.mark.slow
DEADLINE_S = 0.15
REQUESTS = 12


class SilentTcpServer(LoopThread):
    """Accepts TCP connections, reads what arrives and never writes a byte."""

    def __init__(self) -> None:
        super().__init__()

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await reader.read(65536):
                pass
            writer.close()

        self.server = self.call(asyncio.start_server(hold, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]

    def close(self) -> None:
        self.server.close()
        super().close()


class SleepingGrpcServer(LoopThread):
    """A real grpc.aio server for splitrank.v1.CloudRanker whose handlers sleep for an hour."""

    def __init__(self) -> None:
        super().__init__()

        async def sleep(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            await asyncio.sleep(3600)
            return b""

        handler = grpc.unary_unary_rpc_method_handler(sleep)
        generic = grpc.method_handlers_generic_handler("splitrank.v1.CloudRanker", {"Rerank": handler, "RankFull": handler})

        async def start() -> tuple[grpc.aio.Server, int]:
            server = grpc.aio.server()
            server.add_generic_rpc_handlers((generic,))
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            return server, port

        self.server, self.port = self.call(start())

    def close(self) -> None:
        self.call(self.server.stop(0))
        super().close()


@pytest.fixture
def busy_cpu() -> Iterator[None]:
    """One busy-loop process per core for the length of the test."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        yield
    finally:
        for process in loops:
            process.kill()
            process.wait()


@pytest.fixture(params=["silent-tcp", "sleeping-grpc"])
def dead_cloud(request: pytest.FixtureRequest) -> Iterator[int]:
    server = SilentTcpServer() if request.param == "silent-tcp" else SleepingGrpcServer()
    yield server.port
    server.close()


def _history(bundle: Path) -> list[tuple[str, float, float]]:
    codes = json.loads((bundle / "catalogue.json").read_text())["codes"]
    return [(codes[i], float(i), 1.0) for i in range(1, 6)]


def _check(rank: object, bundle: Path) -> list[str]:
    """Forced split and cloud requests, one after another: each answered in time by the edge, degraded; the reasons."""
    reasons = []
    for i in range(REQUESTS):
        route = ("split", "cloud")[i % 2]
        started = time.perf_counter()
        answer = rank(_history(bundle), k=5, deadline_s=DEADLINE_S, route=route)  # type: ignore[operator]
        elapsed = time.perf_counter() - started
        assert elapsed < DEADLINE_S, f"request {i} ({route}) answered after {elapsed * 1000:.1f} ms"
        assert (answer.route, answer.degraded, len(answer.item_ids)) == ("local", True, 5), answer
        reasons.append(answer.degraded_reason)
    return reasons


def test_agent_answers_before_the_deadline_when_the_cloud_never_does(tiny_bundle: Path, dead_cloud: int, busy_cpu: None) -> None:
    loop = LoopThread()
    running = loop.call(start_agent(AgentSettings(repository=tiny_bundle, policy="local", port=0, cloud=f"dead=127.0.0.1:{dead_cloud}")))
    try:
        with Client(f"127.0.0.1:{running.port}") as client:
            reasons = _check(client.rank, tiny_bundle)
        assert reasons.count("deadline") + sum("DEADLINE_EXCEEDED" in r for r in reasons) >= 5, reasons  # waited, then answered
        assert running.links[0].breaker.times_opened >= 1 and running.links[0].loss > 0  # and the router learned the link is bad
    finally:
        loop.call(running.stop())
        loop.close()


def test_edge_ranker_answers_before_the_deadline_when_the_cloud_never_does(tiny_bundle: Path, dead_cloud: int, busy_cpu: None) -> None:
    with EdgeRanker(tiny_bundle, policy="local", cloud=f"dead=127.0.0.1:{dead_cloud}") as ranker:
        reasons = _check(ranker.rank, tiny_bundle)
    assert reasons.count("deadline") + sum("DEADLINE_EXCEEDED" in r for r in reasons) >= 5, reasons
