"""Faults the chaos bench found in the device's telemetry: a full disk under the outbox, a failed message
ending the telemetry thread, a stepped wall clock."""

from __future__ import annotations

import contextlib
import errno
import time
from pathlib import Path

import pytest

from core.clock import SteppedClock, wall_clock
from devices.manager import FleetManager
from devices.outbox import Outbox
from splitrank.processes import wait_until
from tests.devices.fleet_sim import SimDevice
from tests.devices.mosquitto import Mosquitto


class FullDisk:
    """Makes ``Outbox._write`` refuse with ENOSPC while ``full`` (a unit-test seam; bench chaos fills a real tmpfs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = False
        real = Outbox._write

        def write(outbox: Outbox, path: Path, data: bytes) -> None:
            if self.full:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            real(outbox, path, data)

        monkeypatch.setattr(Outbox, "_write", write)


def test_the_outbox_holds_messages_while_the_disk_is_full_and_writes_them_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = FullDisk(monkeypatch)
    outbox = Outbox(tmp_path)
    outbox.put(outbox.next_seq(), b"one")
    disk.full = True
    for payload in (b"two", b"three"):
        outbox.put(outbox.next_seq(), payload)  # used to raise OSError
    assert outbox.pending() == [(1, b"one"), (2, b"two"), (3, b"three")]
    assert outbox.write_failures >= 2 and len(outbox) == 3
    outbox.remove(2)  # acknowledged from memory
    disk.full = False
    outbox.put(outbox.next_seq(), b"four")
    assert sorted(p.name for p in tmp_path.glob("*.msg")) == ["000000000001.msg", "000000000003.msg", "000000000004.msg"]
    reopened = Outbox(tmp_path)
    assert reopened.next_seq() == 5  # the counter held in memory reached the disk
    assert [seq for seq, _ in reopened.pending()] == [1, 3, 4]


def test_a_device_with_a_full_disk_keeps_reporting_and_the_manager_counts_everything(
        mosquitto: Mosquitto, manager: FleetManager, keys, tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = FullDisk(monkeypatch)
    device = SimDevice("device-00", tiny_bundle, tmp_path / "device-00", mosquitto.address("device-00"), keys[1], telemetry_interval_s=0.05)
    device.fleet.start()
    try:
        wait_until(lambda: manager.telemetry_summary()["received"] >= 3, 30, "telemetry to flow")
        disk.full = True
        mosquitto.stop()  # held in memory and the broker away: delivered when both are back (a clean stop: a SIGKILL
        # may lose what the broker acknowledged but had not saved or passed on yet, up to its autosave count)
        time.sleep(0.5)
        mosquitto.start()
        time.sleep(0.5)
        disk.full = False
        time.sleep(0.3)
    finally:
        device.fleet._stop.set()
    assert device.fleet.outbox.write_failures > 0
    wait_until(lambda: len(device.fleet.outbox) == 0, 30, "the outbox to drain")
    last = device.fleet.outbox.next_seq() - 1
    with contextlib.suppress(TimeoutError):  # the assertion below names what is missing
        wait_until(lambda: len(manager.devices["device-00"].seqs) >= last, 30, "the manager to count everything")
    assert set(range(1, last + 1)) - manager.devices["device-00"].seqs == set()
    device.fleet.stop()


def test_telemetry_goes_on_after_a_message_fails(mosquitto: Mosquitto, manager: FleetManager, keys, tiny_bundle: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    device = SimDevice("device-01", tiny_bundle, tmp_path / "device-01", mosquitto.address("device-01"), keys[1], telemetry_interval_s=0.05)
    counters = device.runtime.counters
    failures = iter([True, True])
    monkeypatch.setattr(device.runtime, "counters", lambda: counters() if not next(failures, False) else 1 / 0)
    device.fleet._last_counters = {}
    device.fleet._telemetry_thread.start()  # the loop alone, before the connection: the first two rounds raise
    device.fleet.connection.start(10)
    try:
        wait_until(lambda: len(manager.devices["device-01"].seqs) >= 3, 30, "telemetry after the failures")
    finally:
        device.fleet.stop()


def test_a_stepped_clock_moves_the_device_time_and_nothing_else(tmp_path: Path) -> None:
    offset = tmp_path / "offset"
    assert wall_clock({}) is time.time
    clock = wall_clock({"SPLITRANK_CLOCK_OFFSET_FILE": str(offset)})
    assert isinstance(clock, SteppedClock) and abs(clock() - time.time()) < 1  # no file yet: no offset
    clock.reread_s = 0.0
    offset.write_text("86400")
    assert abs(clock() - time.time() - 86400) < 1
    offset.write_text("-3600.5")
    assert abs(clock() - time.time() + 3600.5) < 1
    offset.write_text("garbage")
    assert abs(clock() - time.time()) < 1
