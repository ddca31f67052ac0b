"""What keeps a device's cloud calls from making things worse: a circuit breaker per endpoint and a
retry budget shared by all of them (retries are a small share of calls, never a storm)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class CircuitBreaker:
    """Closed -> open after ``failures_to_open`` consecutive failures; open for ``open_s``, then one probe
    call at a time (half-open) until one succeeds (closed) or fails (open again). A probe that never reports
    (its request gave up before the call went out, or was cancelled) lets another through after ``open_s``: it
    kept the breaker open for good, the device on the degraded route after its cloud was back (bench chaos)."""

    failures_to_open: int = 5
    open_s: float = 2.0
    clock: Callable[[], float] = time.monotonic
    consecutive_failures: int = 0
    opened_at: float | None = None
    probing_since: float | None = None
    times_opened: int = 0

    @property
    def state(self) -> str:
        """'closed', 'open' or 'half-open'."""
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.open_s else "open"

    def allow(self) -> bool:
        """May a call go out now? In half-open, only one probe at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open":
            now = self.clock()
            if self.probing_since is None or now - self.probing_since >= self.open_s:
                self.probing_since = now
                return True
        return False

    def record(self, ok: bool) -> None:
        """Report how a call that was allowed ended."""
        self.probing_since = None
        if ok:
            self.consecutive_failures = 0
            self.opened_at = None
            return
        self.consecutive_failures += 1
        if self.opened_at is not None or self.consecutive_failures >= self.failures_to_open:
            if self.opened_at is None:
                self.times_opened += 1
            self.opened_at = self.clock()


@dataclass
class RetryBudget:
    """Each first attempt earns ``ratio`` of a retry, up to ``burst``; a retry spends one."""

    ratio: float = 0.1
    burst: float = 10.0
    tokens: float = 10.0

    def earn(self) -> None:
        """Called once per first attempt."""
        self.tokens = min(self.burst, self.tokens + self.ratio)

    def spend(self) -> bool:
        """Take one retry if the budget has it."""
        if self.tokens >= 1.0 - 1e-9:  # ten earnings of 0.1 add up to 0.999...
            self.tokens -= 1.0
            return True
        return False
