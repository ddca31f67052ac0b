"""``splitrank bench soak``: does anything grow under a steady load? The demo stack (cloud server, a real
mosquitto, the fleet manager and agents, each its own process but the manager, which runs in this
process beside the load generator) serves a steady SDK load on the split route for ``minutes``. Every
~30 s each process's resident memory, open descriptors and threads are read from /proc. The figures compare
the sample at a sixth of the run (minute 5 of 30: start-up and warm-up are over) with the last one; descriptor
and thread growth compare the floors of 5 samples at both ends (a file open for one write is not a leak).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.steady_load import ProcessSampler, SteadyLoad, write_histories
from splitrank.demo.stack import DemoStack

MAX_RSS_GROWTH = 0.05


def run_soak(bundle: Path, *, minutes: float = 30.0, profiles: tuple[str, ...] = ("lan", "wifi"), rate_per_s: float = 10.0, deadline_s: float = 2.0,
             interval_s: float = 30.0, progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Run the soak; returns the figures (``processes`` per process, ``requests``, ``failed``, ``ok``)."""
    log_dir = Path(tempfile.mkdtemp(prefix="splitrank-soak-"))
    users = write_histories(bundle, log_dir / "histories.json")
    stack = DemoStack(bundle, list(profiles), log_dir=log_dir, mosquitto=True, histories=log_dir / "histories.json")
    seconds = minutes * 60
    try:
        stack.start(progress)
        assert stack.cloud is not None and stack.manager is not None and stack.broker is not None
        cloud = stack.cloud_pids()
        pids = {"cloud": cloud[0], **{f"cloud-worker-{i}": pid for i, pid in enumerate(cloud[1:])}, "broker": stack.broker.pid, "manager+load": os.getpid(),
                **{agent.device_id: agent.process.pid for agent in stack.agents}}
        sampler = ProcessSampler(pids, interval_s=min(interval_s, max(seconds / 12, 1.0)))
        load = SteadyLoad([agent.address for agent in stack.agents], users, rate_per_s=rate_per_s, deadline_s=deadline_s)
        load.start()
        sampler.start()
        started = time.monotonic()
        progress(f"soak: {minutes:g} min at {rate_per_s:g} requests/s per agent; processes {pids}")
        while (left := seconds - (time.monotonic() - started)) > 0:
            time.sleep(min(left, 60.0))
            done = load.summary()
            progress(f"soak: {(time.monotonic() - started) / 60:.1f} min, {done['requests']} requests, {done['failed']} failed")
        sampler.stop()  # the last sample under load
        load.stop()
        telemetry = stack.manager.telemetry_summary()
    finally:
        stack.stop()
    processes = sampler.summary(seconds / 6)
    growth = max(p["rss_growth"] for p in processes.values())
    fd_growth = max(p["fds"]["floor_end"] - p["fds"]["floor_start"] for p in processes.values())
    thread_growth = max(p["threads"]["floor_end"] - p["threads"]["floor_start"] for p in processes.values())
    summary = load.summary()
    return {"minutes": minutes, "window": f"sample at {seconds / 6 / 60:.1f} min vs the last", "rate_per_s_per_agent": rate_per_s,
            "processes": processes, "rss_growth_max": growth, "fd_growth_max": fd_growth, "thread_growth_max": thread_growth,
            "requests": summary["requests"], "failed": summary["failed"], "degraded": summary["degraded"], "errors": summary["errors"],
            "telemetry_received": telemetry["received"],
            "ok": growth <= MAX_RSS_GROWTH and fd_growth <= 0 and thread_growth <= 0 and summary["failed"] == 0, "logs": str(log_dir)}
