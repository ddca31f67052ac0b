"""A real mosquitto for the fleet tests: per-device passwords and TLS client certificates, the shipped
ACL, persistence, dropped to the ``mosquitto`` user when the tests run as root; it can be killed (SIGKILL)
and started again on the same ports."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.manager import FleetManager
from devices.release import generate_keypair, load_private_key, load_public_key
from splitrank.mosquitto import MosquittoBroker

PASSWORD = "pw-7Hq2-not-in-logs"


class Mosquitto(MosquittoBroker):
    """A mosquitto process for the devices ``device-00`` .. ``device-NN`` and the ``manager``."""

    def __init__(self, directory: Path, devices: int = 40) -> None:
        super().__init__(directory, {"manager": PASSWORD, **{f"device-{i:02d}": PASSWORD for i in range(devices)}})


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
