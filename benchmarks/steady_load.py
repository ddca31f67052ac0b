"""What the soak and chaos benchmarks share: a steady SDK load on the demo stack's agents, a history
file for requests by user id, and a sampler of each process's memory, descriptors and threads.

``SteadyLoad`` runs one thread per agent, each a ``splitrank.Client`` sending ``rate_per_s`` requests a
second for the users of the history file on the split route (the agent answers locally, marked degraded,
whenever the cloud does not). An SDK exception is a failed request; every answer is recorded with its
time when ``timeline`` is on (chaos measures recovery on it).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitrank.client import Client, SplitrankError


def write_histories(bundle: Path, path: Path, users: int = 50, items_per_user: int = 8, now_unix_s: float | None = None) -> list[str]:
    """A history file (the agent's ``--histories`` format) for ``users`` customers made of the bundle's catalogue; returns their ids."""
    codes = json.loads((bundle / "catalogue.json").read_text())["codes"][1:]
    now = time.time() if now_unix_s is None else now_unix_s
    records = {}
    for u in range(users):
        items = {codes[(u * 7 + j * 13) % len(codes)]: [now - 86400.0 * (j + 1), 1 + (u + j) % 3] for j in range(items_per_user)}
        records[f"user-{u:04d}"] = {"baskets": items_per_user, "last_unix_s": now - 86400.0, "items": items}
    path.write_text(json.dumps({"users": records}))
    return sorted(records)


@dataclass(frozen=True)
class Answer:
    """One request of the load: when it ended (monotonic s), which agent, and how."""

    at_s: float
    agent: int
    ok: bool
    degraded: bool
    error: str = ""
    """The SDK's exception, or why the answer was degraded."""


@dataclass
class SteadyLoad:
    """Requests at ``rate_per_s`` per agent (``addresses``) until ``stop()``; ``deadline_s`` is each call's deadline."""

    addresses: list[str]
    users: list[str]
    rate_per_s: float = 10.0
    deadline_s: float = 2.0
    route: str = "split"
    timeline: bool = False
    requests: int = 0
    failed: int = 0
    degraded: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    degraded_reasons: Counter[str] = field(default_factory=Counter)
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._paused = [threading.Event() for _ in self.addresses]
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True, name=f"load-{i}") for i in range(len(self.addresses))]

    def start(self) -> None:
        """Start the load threads."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop and wait for the threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def pause(self, index: int) -> None:
        """Stop sending to agent ``index`` (its request in flight finishes) until ``resume``: while it is restarted on purpose."""
        self._paused[index].set()
        time.sleep(self.deadline_s)

    def resume(self, index: int) -> None:
        """Send to agent ``index`` again."""
        self._paused[index].clear()

    def _run(self, index: int) -> None:
        gap = 1.0 / self.rate_per_s
        next_at = time.monotonic()
        n = index
        with Client(self.addresses[index]) as client:
            while not self._stop.is_set():
                if self._paused[index].is_set():
                    self._stop.wait(0.05)
                    next_at = time.monotonic()
                    continue
                user = self.users[n % len(self.users)]
                n += 1
                try:
                    ranking = client.rank(user_id=user, deadline_s=self.deadline_s, route=self.route)
                except SplitrankError as err:
                    answer = Answer(time.monotonic(), index, False, False, f"{type(err).__name__}: {err}")
                else:
                    answer = Answer(time.monotonic(), index, True, ranking.degraded, ranking.degraded_reason)
                self._record(answer)
                next_at = max(next_at + gap, time.monotonic() - gap)  # catch up after a stall, but not in a burst
                self._stop.wait(max(next_at - time.monotonic(), 0.0))

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self.requests += 1
            self.failed += not answer.ok
            self.degraded += answer.degraded
            if answer.error:
                (self.errors if not answer.ok else self.degraded_reasons)[answer.error[:200]] += 1
            if self.timeline:
                self.answers.append(answer)

    def since(self, at_s: float) -> list[Answer]:
        """Answers recorded after ``at_s`` (monotonic), oldest first (``timeline`` only)."""
        with self._lock:
            return [a for a in self.answers if a.at_s > at_s]

    def summary(self) -> dict[str, Any]:
        """requests, failed, degraded, the errors seen and why answers were degraded (message -> count)."""
        with self._lock:
            return {"requests": self.requests, "failed": self.failed, "degraded": self.degraded, "errors": dict(self.errors),
                    "degraded_reasons": dict(self.degraded_reasons)}


def process_sample(pid: int) -> dict[str, int]:
    """Resident memory (bytes), open file descriptors and threads of a running process, from /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss_bytes": int(status["VmRSS"].split()[0]) * 1024, "fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": int(status["Threads"])}


def thread_names(pid: int) -> Counter[str]:
    """How many threads of a running process carry each name (/proc/PID/task/*/comm)."""
    names: Counter[str] = Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            names[(task / "comm").read_text().strip()] += 1
        except FileNotFoundError:  # the thread ended while we read
            continue
    return names


FLOOR_SAMPLES = 5


@dataclass
class ProcessSampler:
    """Samples named processes every ``interval_s`` in a thread: name -> [(seconds since start, sample)]."""

    pids: dict[str, int]
    interval_s: float = 30.0
    samples: dict[str, list[tuple[float, dict[str, int]]]] = field(default_factory=dict)
    names: dict[str, list[Counter[str]]] = field(default_factory=dict)
    """Per process, each sample's thread names (to say which threads a growth added)."""

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sampler")

    def start(self) -> None:
        """Take the first sample now and then one every ``interval_s``."""
        self._started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        """Take a last sample and stop."""
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> None:
        """One sample of every process (a process that has gone is skipped)."""
        at = time.monotonic() - self._started
        for name, pid in self.pids.items():
            try:
                sample, names = process_sample(pid), thread_names(pid)
            except (FileNotFoundError, ProcessLookupError, KeyError):
                continue
            self.samples.setdefault(name, []).append((at, sample))
            self.names.setdefault(name, []).append(names)

    def _run(self) -> None:
        self.sample()
        while not self._stop.wait(self.interval_s):
            self.sample()

    def summary(self, window_start_s: float) -> dict[str, dict[str, Any]]:
        """Per process: the samples' min and max, and growth from the sample nearest ``window_start_s`` to the last one.
        Descriptors and threads also get a floor (the least of ``FLOOR_SAMPLES`` samples) at both ends: a file open
        for one write or a short-lived thread moves a single sample, a leak moves the floor."""
        out: dict[str, dict[str, Any]] = {}
        for name, samples in self.samples.items():
            base_index = min(range(len(samples)), key=lambda i: abs(samples[i][0] - window_start_s))
            base_at, base = samples[base_index]
            end_at, end = samples[-1]
            near_start, near_end = samples[base_index:base_index + FLOOR_SAMPLES], samples[-FLOOR_SAMPLES:]
            out[name] = {
                "samples": len(samples),
                "window_s": [round(base_at, 1), round(end_at, 1)],
                "rss_mb": {"min": round(min(s["rss_bytes"] for _, s in samples) / 2**20, 1), "max": round(max(s["rss_bytes"] for _, s in samples) / 2**20, 1),
                           "start": round(base["rss_bytes"] / 2**20, 1), "end": round(end["rss_bytes"] / 2**20, 1)},
                "rss_growth": round((end["rss_bytes"] - base["rss_bytes"]) / base["rss_bytes"], 4),
                **{key: {"start": base[key], "end": end[key], "max": max(s[key] for _, s in samples),
                         "floor_start": min(s[key] for _, s in near_start), "floor_end": min(s[key] for _, s in near_end)}
                   for key in ("fds", "threads")},
                "threads_added": sorted((self.names[name][-1] - self.names[name][base_index]).elements()),
            }
        return out
