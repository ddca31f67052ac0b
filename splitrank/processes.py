"""Start a program in its own process and wait until it answers: one helper for the demo, the
benchmarks and the tests (cloud servers, agents, brokers).

    with ManagedProcess(["mosquitto", "-c", conf], what="mosquitto") as broker:
        broker.wait_ready(lambda: port_open(port), timeout_s=10)
        ...                                             # stopped (SIGTERM, then SIGKILL) on the way out

A process that exits before it is ready, or is not ready in time, raises with the end of its output.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from splitrank.client import Client

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self


def splitrank_command(*args: str) -> list[str]:
    """The command line of ``splitrank ARGS`` run by this interpreter (the code of this checkout)."""
    return [sys.executable, "-m", "splitrank", *args]


def wait_until(ready: Callable[[], bool], timeout_s: float = 60.0, what: str = "condition", *, poll_s: float = 0.05,
               process: ManagedProcess | None = None) -> None:
    """Poll ``ready`` until it returns True (an exception counts as not yet); raises TimeoutError after
    ``timeout_s``, or RuntimeError as soon as ``process`` (the program that should answer) has exited."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(Exception):  # not up yet
            if ready():
                return
        if process is not None and process.popen.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.popen.returncode} before it was ready: {process.output_tail()}")
        if time.monotonic() > deadline:
            tail = f": {process.output_tail()}" if process is not None else ""
            raise TimeoutError(f"{what} was not ready within {timeout_s:.0f} s{tail}")
        time.sleep(poll_s)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections at host:port."""
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def agent_ready(address: str, timeout_s: float = 1.0) -> bool:
    """True when an edge agent accepts connections at ``address`` (``host:port`` or ``unix:PATH``)."""
    with Client(address) as client:
        return client.wait_ready(timeout_s)


class ManagedProcess:
    """A program started in its own process, its stdout and stderr in ``log`` (a temporary file when
    None); ``stop()`` (or leaving the ``with`` block) terminates it, then kills it after ``grace_s``."""

    def __init__(self, args: Sequence[str], *, what: str, env: Mapping[str, str] | None = None, log: Path | None = None) -> None:
        self.what = what
        # open as long as the process runs: closed on leaving the ``with`` block
        self._output: IO[bytes] = log.open("w+b") if log is not None else tempfile.TemporaryFile()  # noqa: SIM115
        self.popen = subprocess.Popen(list(args), stdout=self._output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def wait_ready(self, ready: Callable[[], bool], *, timeout_s: float = 120.0) -> Self:
        """Wait until ``ready()``; on failure the process is stopped and the error carries the end of its output."""
        try:
            wait_until(ready, timeout_s, self.what, process=self)
        except BaseException:
            self.stop()
            raise
        return self

    def output_tail(self, chars: int = 2000) -> str:
        """The last ``chars`` characters the process wrote."""
        fd = self._output.fileno()
        return os.pread(fd, chars, max(os.fstat(fd).st_size - chars, 0)).decode(errors="replace")

    def stop(self, grace_s: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after ``grace_s``; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL now (a crash, for tests of what survives one)."""
        self.popen.kill()
        self.popen.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._output.close()
