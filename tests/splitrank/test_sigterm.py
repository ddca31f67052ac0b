"""SIGTERM to a splitrank command that started other programs stops them too (the demo and the benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from splitrank.demo.stack import child_pids
from splitrank.processes import splitrank_command, wait_until

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_to_a_bench_stops_the_programs_it_started(tiny_bundle: Path, tmp_path: Path) -> None:
    log = tmp_path / "soak.err"
    with log.open("w") as err:
        bench = subprocess.Popen(splitrank_command("bench", "soak", "--repository", str(tiny_bundle.parent), "--minutes", "5"),
                                 stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_until(lambda: "soak: 5 min" in log.read_text(), timeout_s=120, what="the soak's load")
        started = child_pids(bench.pid)
        assert len(started) >= 3, log.read_text()[-2000:]  # cloud server, broker, agents
        os.kill(bench.pid, signal.SIGTERM)
        assert bench.wait(timeout=60) != 0
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in started if _alive(pid)], log.read_text()[-2000:]
    finally:
        if bench.poll() is None:
            bench.kill()
