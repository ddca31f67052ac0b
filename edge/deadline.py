"""How early the agent stops waiting for the cloud so that the app still gets an answer before its
deadline: the margin adapts to the agent's own measured tail.

Two things happen between "stop waiting" and the app holding the answer, and both grow when the CPU is
busy: the agent's own work on the request (everything but the cloud wait), and the lateness of the
event loop's timer that ends the wait. The margin is a floor (the answer's way back through gRPC to the
app, which the agent cannot time) plus the p99 of each over recent requests, capped.
"""

from __future__ import annotations

import numpy as np

RECOMPUTE_EVERY = 32
"""Samples between two recomputations of the percentiles (a percentile per request would cost more than it saves)."""


class _Tail:
    """A ring of recent samples and their p99, recomputed every RECOMPUTE_EVERY samples."""

    def __init__(self, window: int) -> None:
        self._samples = np.zeros(window)
        self._seen = 0
        self.p99 = 0.0

    def add(self, seconds: float) -> None:
        self._samples[self._seen % len(self._samples)] = seconds
        self._seen += 1
        if self._seen % RECOMPUTE_EVERY == 0 or self._seen < RECOMPUTE_EVERY:
            self.p99 = float(np.percentile(self._samples[: min(self._seen, len(self._samples))], 99))


class DeadlineMargin:
    """Seconds kept back from the app's deadline for answering; ``observe_*`` feed it, ``seconds`` reads it."""

    def __init__(self, *, floor_ms: float = 10.0, ceiling_ms: float = 50.0, window: int = 1024) -> None:
        if not 0 <= floor_ms <= ceiling_ms:
            raise ValueError(f"deadline margin: need 0 <= floor_ms <= ceiling_ms, got {floor_ms}, {ceiling_ms}")
        self.floor_s = floor_ms / 1000
        self.ceiling_s = ceiling_ms / 1000
        self._work = _Tail(window)
        self._lateness = _Tail(window)

    def observe_work(self, seconds: float) -> None:
        """The agent's own time on one request, the cloud wait left out."""
        self._work.add(seconds)

    def observe_lateness(self, seconds: float) -> None:
        """How late the timer that ended a cloud wait fired."""
        self._lateness.add(max(seconds, 0.0))

    def seconds(self) -> float:
        """The margin now."""
        return min(self.floor_s + self._work.p99 + self._lateness.p99, self.ceiling_s)
