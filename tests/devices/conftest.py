"""A real mosquitto for the fleet tests: per-device passwords, the shipped ACL, persistence; it can be
killed (SIGKILL) and started again on the same port."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.broker import write_mosquitto_config
from devices.mqtt import BrokerAddress
from splitrank.ports import free_port
from splitrank.processes import ManagedProcess, port_open

PASSWORD = "secret"


class Mosquitto:
    """A mosquitto process for the devices ``device-00`` .. ``device-NN`` and the ``manager``."""

    def __init__(self, directory: Path, devices: int = 40) -> None:
        self.port = free_port()
        users = {"manager": PASSWORD, **{f"device-{i:02d}": PASSWORD for i in range(devices)}}
        self.conf = write_mosquitto_config(directory, port=self.port, users=users)
        self.process: ManagedProcess | None = None
        self.start()

    def start(self) -> None:
        self.process = ManagedProcess(["mosquitto", "-c", str(self.conf)], what="mosquitto")
        self.process.wait_ready(lambda: port_open(self.port), timeout_s=10)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(5)

    def address(self, user: str) -> BrokerAddress:
        return BrokerAddress("127.0.0.1", self.port, username=user, password=PASSWORD, protocol="5")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed; .ci/run installs it (apt install mosquitto)")
    broker = Mosquitto(tmp_path / "broker")
    yield broker
    broker.stop()
