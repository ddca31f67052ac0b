"""The device's telemetry outbox: every message is on disk before it is published and leaves only
when the broker has acknowledged it (PUBACK), so a broker restart or a device reboot loses nothing.
Bounded: past ``max_messages`` the oldest are dropped, and counted.

When the disk refuses a write (full, read-only), the outbox holds messages and the sequence counter in
memory, still published and still removed on PUBACK, and writes them out once the disk takes writes
again: a full disk delays nothing and loses nothing but what a reboot during it would lose."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger("splitrank.device")


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
        self._held: dict[int, bytes] = {}
        """Messages the disk refused, kept in memory until it takes them."""
        self._seq_saved = True
        self.write_failures = 0
        """Writes the disk refused so far."""

    def _write(self, path: Path, data: bytes) -> None:
        temporary = path.with_name(f".{path.name}.tmp")
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def _refused(self, what: str, err: OSError) -> None:
        self.write_failures += 1
        if self.write_failures == 1 or self.write_failures % 100 == 0:
            log.warning("telemetry outbox %s: the disk refused %s (%s; %d refused so far): held in memory until it takes writes again",
                        self.directory, what, err, self.write_failures)

    def _save_seq(self) -> None:
        try:
            self._write(self._counter, str(self._seq).encode())
        except OSError as err:
            self._seq_saved = False
            self._refused("the sequence counter", err)
        else:
            self._seq_saved = True

    def _save_held(self) -> None:
        """Write the held messages out, oldest first, as far as the disk takes them."""
        for seq in sorted(self._held):
            try:
                self._write(self.directory / f"{seq:012d}.msg", self._held[seq])
            except OSError:
                return
            del self._held[seq]

    def next_seq(self) -> int:
        """Reserve the next sequence number (1, 2, ...), persisted before it is used (held in memory while the disk refuses it)."""
        with self._lock:
            self._seq += 1
            self._save_seq()
            return self._seq

    def put(self, seq: int, payload: bytes) -> None:
        """Store one message; drops the oldest past the bound."""
        with self._lock:
            if not self._seq_saved:
                self._save_seq()
            self._save_held()
            try:
                self._write(self.directory / f"{seq:012d}.msg", payload)
            except OSError as err:
                self._held[seq] = payload
                self._refused(f"message {seq}", err)
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        stored = sorted([(int(p.stem), p) for p in self.directory.glob("*.msg")] + [(seq, None) for seq in self._held])
        for seq, path in stored[: max(len(stored) - self.max_messages, 0)]:
            if path is None:
                del self._held[seq]
            else:
                path.unlink(missing_ok=True)
            self.dropped += 1
        if len(stored) > self.max_messages:
            try:
                self._write(self.directory / "dropped", str(self.dropped).encode())
            except OSError as err:
                self._refused("the dropped counter", err)

    def pending(self) -> list[tuple[int, bytes]]:
        """Unacknowledged messages, oldest first (those on disk and those held in memory)."""
        with self._lock:
            on_disk = [(int(p.stem), p.read_bytes()) for p in self.directory.glob("*.msg")]
            return sorted(on_disk + list(self._held.items()))

    def remove(self, seq: int) -> None:
        """The broker has it."""
        with self._lock:
            self._held.pop(seq, None)
            (self.directory / f"{seq:012d}.msg").unlink(missing_ok=True)

    def __len__(self) -> int:
        with self._lock:
            return len(list(self.directory.glob("*.msg"))) + len(self._held)
