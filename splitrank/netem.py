"""Emulated networks for the demo and the fault tests: a real TCP proxy between an agent and the
cloud that delays, throttles and cuts the bytes passing through it.

Each direction of each connection is a pipe that holds every chunk for ``latency +- jitter`` (order
kept, as TCP keeps it), paces it to ``bandwidth``, and turns packet loss into what TCP makes of it: a
retransmission delay (``loss`` is the chance that a chunk waits one extra retransmission timeout).
``down()`` refuses new connections and cuts open ones (a dead link), ``up()`` restores it. Profiles:
``wifi``, ``4g``, ``3g``, ``lossy``, ``lan``. Linux ``tc netem`` does the same in the kernel when run as
root; this proxy needs no privileges.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class NetworkProfile:
    """One-way latency and jitter (ms), bandwidth (Mbit/s), loss (share of chunks), retransmission timeout (ms)."""

    name: str
    latency_ms: float
    jitter_ms: float = 0.0
    bandwidth_mbps: float = 1000.0
    loss: float = 0.0
    rto_ms: float = 200.0


PROFILES = {
    "lan": NetworkProfile("lan", 0.1),
    "wifi": NetworkProfile("wifi", 4.0, 2.0, 50.0, 0.001),
    "4g": NetworkProfile("4g", 25.0, 8.0, 20.0, 0.005),
    "3g": NetworkProfile("3g", 60.0, 20.0, 2.0, 0.01),
    "lossy": NetworkProfile("lossy", 40.0, 25.0, 5.0, 0.05),
}


class NetemProxy:
    """Listens on ``port`` (0 = any) and forwards to ``target_host:target_port`` through the profile."""

    def __init__(self, target_host: str, target_port: int, profile: NetworkProfile, *, host: str = "127.0.0.1", port: int = 0,
                 seed: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.profile = profile
        self.host, self.port = host, port
        self._rng = random.Random(seed)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._connections: set[asyncio.Task[None]] = set()
        self.bytes_up = 0
        self.bytes_down = 0
        self.is_up = True

    async def start(self) -> int:
        """Start listening; returns the port."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening, cut every connection and wait for their tasks to end."""
        self._cut()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    def down(self) -> None:
        """The link dies: open connections are cut, new ones refused until ``up()``."""
        self.is_up = False
        self._cut()

    def up(self) -> None:
        """The link is back."""
        self.is_up = True

    def _cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        if not self.is_up:
            client_writer.transport.abort()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, server_writer))
        up = asyncio.ensure_future(self._pipe(client_reader, server_writer, up=True))
        down = asyncio.ensure_future(self._pipe(server_reader, client_writer, up=False))
        # once the server's side has ended, the client's is cut too: a dead server's kernel answers the client's next bytes
        # with a reset, where a proxy that went on reading them left the client on a connection nobody served (bench chaos)
        await asyncio.wait((down,), return_when=asyncio.FIRST_COMPLETED)
        up.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
        for writer in (client_writer, server_writer):
            self._writers.discard(writer)
            writer.transport.abort()

    def _delay_s(self) -> float:
        p = self.profile
        delay = max(p.latency_ms + self._rng.uniform(-p.jitter_ms, p.jitter_ms), 0.0)
        if p.loss and self._rng.random() < p.loss:
            delay += p.rto_ms
        return delay / 1000

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            free_at = 0.0
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                send_s = len(chunk) * 8 / (self.profile.bandwidth_mbps * 1e6)
                free_at = max(free_at, due) + send_s
                wait = free_at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        last_due = 0.0
        try:
            while True:
                chunk = await reader.read(65536)
                if up:
                    self.bytes_up += len(chunk)
                else:
                    self.bytes_down += len(chunk)
                last_due = max(last_due, time.monotonic() + self._delay_s())  # chunks keep their order
                queue.put_nowait((last_due, chunk))
                if not chunk:
                    break
            await sender
        finally:
            sender.cancel()
