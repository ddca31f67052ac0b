"""Starting a program and waiting until it answers: ready, exited early (with its output), too slow."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from splitrank.ports import free_port
from splitrank.processes import ManagedProcess, port_open, wait_until

LISTEN_AFTER = """
import socket, sys, time
time.sleep(0.3)
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
time.sleep(60)
"""


def test_waits_until_the_program_listens_and_stops_it() -> None:
    port = free_port()
    with ManagedProcess([sys.executable, "-c", LISTEN_AFTER, str(port)], what="listener") as process:
        assert not port_open(port)
        process.wait_ready(lambda: port_open(port), timeout_s=30)
        assert port_open(port)
    assert process.popen.returncode is not None  # stopped on the way out


def test_a_program_that_exits_early_fails_with_its_output() -> None:
    process = ManagedProcess([sys.executable, "-c", "import sys; print('no model bundle here'); sys.exit(3)"], what="agent")
    with pytest.raises(RuntimeError, match="agent exited with code 3 before it was ready: no model bundle here"):
        process.wait_ready(lambda: False, timeout_s=30)


def test_the_output_of_a_program_with_a_log_file_is_read_back(tmp_path: Path) -> None:
    """The log file is opened for reading too: the error of a program that died says why (it was EBADF)."""
    process = ManagedProcess([sys.executable, "-c", "import sys; print('refused model version 1'); sys.exit(1)"], what="cloud",
                             log=tmp_path / "cloud.log")
    with pytest.raises(RuntimeError, match="cloud exited with code 1 before it was ready: refused model version 1"):
        process.wait_ready(lambda: False, timeout_s=30)
    assert "refused model version 1" in (tmp_path / "cloud.log").read_text()


def test_a_program_that_is_not_ready_in_time_is_stopped() -> None:
    process = ManagedProcess([sys.executable, "-c", "import time; time.sleep(60)"], what="sleeper")
    with pytest.raises(TimeoutError, match="sleeper was not ready within 1 s"):
        process.wait_ready(lambda: False, timeout_s=1)
    assert process.popen.poll() is not None


def test_wait_until_counts_exceptions_as_not_yet() -> None:
    calls = []

    def flaky() -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError
        return True

    wait_until(flaky, 5, "flaky")
    assert len(calls) == 3
