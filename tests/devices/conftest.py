"""Fixtures of the fleet tests: a real mosquitto (``tests/devices/mosquitto.py``), release keys, a fleet manager."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.manager import FleetManager
from devices.release import generate_keypair, load_private_key, load_public_key
from tests.devices.mosquitto import Mosquitto


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed; .ci/run installs it (apt install mosquitto)")
    # not under pytest's tmp_path: run as root, mosquitto drops to its own user, which cannot enter pytest's 0700 folders
    directory = Path(tempfile.mkdtemp(prefix="splitrank-broker-"))
    broker = Mosquitto(directory)
    yield broker
    broker.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[object, object]:
    """A fresh release key pair (private, public), as the fleet's operator makes one."""
    private, public = generate_keypair(tmp_path / "keys")
    return load_private_key(private), load_public_key(public)


@pytest.fixture
def manager(mosquitto: Mosquitto) -> Iterator[FleetManager]:
    """A fleet manager connected to the test broker."""
    fleet = FleetManager(mosquitto.address("manager"))
    fleet.start()
    yield fleet
    fleet.stop()
