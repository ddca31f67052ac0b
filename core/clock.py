"""The wall clock a device reads, with a seam to step it: ``SPLITRANK_CLOCK_OFFSET_FILE`` names a file
holding seconds (a float, may be negative) added to the system clock, re-read at most every ``reread_s``.
``splitrank bench chaos`` steps a device's clock forward and back with it while the device runs (the
effect of an NTP step or a user changing the time); without the variable the clock is ``time.time``.
Durations never use it: they use ``time.monotonic``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

CLOCK_OFFSET_ENV = "SPLITRANK_CLOCK_OFFSET_FILE"


class SteppedClock:
    """``time.time()`` plus the offset in ``path`` (0 while the file is missing or unreadable)."""

    def __init__(self, path: Path, *, reread_s: float = 0.2) -> None:
        self.path = Path(path)
        self.reread_s = reread_s
        self._offset_s = 0.0
        self._read_at = float("-inf")

    def offset_s(self) -> float:
        """The offset in effect now."""
        now = time.monotonic()
        if now - self._read_at >= self.reread_s:
            self._read_at = now
            try:
                self._offset_s = float(self.path.read_text().strip() or 0.0)
            except (OSError, ValueError):
                self._offset_s = 0.0
        return self._offset_s

    def __call__(self) -> float:
        return time.time() + self.offset_s()


def wall_clock(environ: dict[str, str] | None = None) -> Callable[[], float]:
    """The device's wall clock: stepped through the file ``SPLITRANK_CLOCK_OFFSET_FILE`` names, else ``time.time``."""
    path = (os.environ if environ is None else environ).get(CLOCK_OFFSET_ENV, "")
    return SteppedClock(Path(path)) if path else time.time
