"""How early the agent stops waiting for the cloud so that the app still gets an answer before its
deadline: the margin adapts to the agent's own measured tail.

Two things happen between "stop waiting" and the app holding the answer, and both grow when the CPU is
busy: the agent's own work on the request (everything but the cloud wait), and the lateness of the
event loop's timer that ends the wait. The margin is a floor (the answer's way back through gRPC to the
app, which the agent cannot time) plus the tail of each over recent samples, capped. Timer lateness is
sampled all the time (``watch``: a timer every 50 ms on the agent's loop), so the margin has grown
before the first cloud call that needs it.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

RECOMPUTE_EVERY = 32
"""Samples between two recomputations of a tail (one per request would cost more than it saves)."""


class _Tail:
    """A ring of recent samples and their ``quantile``, recomputed every RECOMPUTE_EVERY samples; until then the
    largest sample or ``initial``, whichever is larger (a cautious guess beats a quantile of a handful of samples)."""

    def __init__(self, window: int, quantile: float, initial: float) -> None:
        self._samples = np.zeros(window)
        self._quantile = quantile
        self._seen = 0
        self.value = initial

    def add(self, seconds: float) -> None:
        self._samples[self._seen % len(self._samples)] = seconds
        self._seen += 1
        if self._seen < RECOMPUTE_EVERY:
            self.value = max(self.value, seconds)
        elif self._seen % RECOMPUTE_EVERY == 0:
            self.value = float(np.quantile(self._samples[: min(self._seen, len(self._samples))], self._quantile))


class DeadlineMargin:
    """Seconds kept back from the app's deadline for answering; ``observe_*`` and ``watch`` feed it, ``seconds`` reads it.

    The agent's work counts at its p99 over the last 1,024 requests, timer lateness at its worst over the last 256
    samples (about 13 s of ``watch``), up to ``ceiling_ms``: one stall of the whole process is what makes an answer
    late, and a late answer is a failed request, where a cut cloud call is only a degraded one."""

    def __init__(self, *, floor_ms: float = 10.0, ceiling_ms: float = 100.0, initial_ms: float = 8.0) -> None:
        if not 0 <= floor_ms <= ceiling_ms:
            raise ValueError(f"deadline margin: need 0 <= floor_ms <= ceiling_ms, got {floor_ms}, {ceiling_ms}")
        self.floor_s = floor_ms / 1000
        self.ceiling_s = ceiling_ms / 1000
        self._work = _Tail(1024, 0.99, initial_ms / 1000)
        self._lateness = _Tail(256, 1.0, initial_ms / 1000)

    def observe_work(self, seconds: float) -> None:
        """The agent's own time on one request, the cloud wait left out."""
        self._work.add(seconds)

    def observe_lateness(self, seconds: float) -> None:
        """How late a timer of the agent's event loop fired."""
        self._lateness.add(max(seconds, 0.0))

    async def watch(self, period_s: float = 0.05) -> None:
        """Sample the event loop's timer lateness every ``period_s`` until cancelled (run it as a task on the agent's loop)."""
        while True:
            planned = time.perf_counter() + period_s
            await asyncio.sleep(period_s)
            self.observe_lateness(time.perf_counter() - planned)

    def seconds(self) -> float:
        """The margin now."""
        return min(self.floor_s + self._work.value + self._lateness.value, self.ceiling_s)
