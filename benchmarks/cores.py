"""Cores and CPU time for ``splitrank bench cloud``: the server gets cores of its own, the load generator
the rest, and each side's CPU-seconds are read from the processes themselves (Linux ``/proc``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CoreSplit:
    """Which cores the server and the load generator run on."""

    server: frozenset[int]
    generator: frozenset[int]

    @property
    def separate(self) -> bool:
        """True when the two sides share no core (a machine with one core cannot separate them)."""
        return not self.server & self.generator


def split_cores(server_cores: int = 1) -> CoreSplit:
    """The first ``server_cores`` usable cores for the server, the others for the load generator."""
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) <= server_cores:
        return CoreSplit(frozenset(usable), frozenset(usable))
    return CoreSplit(frozenset(usable[:server_cores]), frozenset(usable[server_cores:]))


def pin(cores: Iterable[int], pid: int = 0) -> None:
    """Pin a process (0 = this one) and every thread it starts from now on to ``cores``."""
    os.sched_setaffinity(pid, set(cores))


_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU-seconds used so far by these processes, all their threads (ended ones too),
    read from ``/proc/<pid>/stat`` (clock-tick resolution: measure over seconds, not calls)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
    return total * _TICK_S
