"""The device's telemetry outbox: every message is on disk before it is published and leaves only
when the broker has acknowledged it (PUBACK), so a broker restart or a device reboot loses nothing.
Bounded: past ``max_messages`` the oldest are dropped, and counted."""

from __future__ import annotations

import os
import threading
from pathlib import Path


class Outbox:
    """Files ``<seq>.msg`` in a directory; ``seq`` never repeats, even across restarts (it is kept in ``seq``)."""

    def __init__(self, directory: Path, *, max_messages: int = 10_000) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self._counter = self.directory / "seq"
        self._seq = int(self._counter.read_text()) if self._counter.is_file() else 0
        self.dropped = int((self.directory / "dropped").read_text()) if (self.directory / "dropped").is_file() else 0

    def _write(self, path: Path, data: bytes) -> None:
        temporary = path.with_name(f".{path.name}.tmp")
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def next_seq(self) -> int:
        """Reserve the next sequence number (1, 2, ...), persisted before it is used."""
        with self._lock:
            self._seq += 1
            self._write(self._counter, str(self._seq).encode())
            return self._seq

    def put(self, seq: int, payload: bytes) -> None:
        """Store one message; drops the oldest past the bound."""
        with self._lock:
            self._write(self.directory / f"{seq:012d}.msg", payload)
            stored = sorted(self.directory.glob("*.msg"))
            for old in stored[: max(len(stored) - self.max_messages, 0)]:
                old.unlink(missing_ok=True)
                self.dropped += 1
                self._write(self.directory / "dropped", str(self.dropped).encode())

    def pending(self) -> list[tuple[int, bytes]]:
        """Unacknowledged messages, oldest first."""
        with self._lock:
            return [(int(p.stem), p.read_bytes()) for p in sorted(self.directory.glob("*.msg"))]

    def remove(self, seq: int) -> None:
        """The broker has it."""
        with self._lock:
            (self.directory / f"{seq:012d}.msg").unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(list(self.directory.glob("*.msg")))
