"""A real mosquitto for the fleet tests (``splitrank.mosquitto.MosquittoBroker``): per-device passwords and TLS
client certificates, the shipped ACL, persistence, dropped to the ``mosquitto`` user when the tests run as root;
it can be killed (SIGKILL) and started again on the same ports."""

from __future__ import annotations

from pathlib import Path

from splitrank.mosquitto import MosquittoBroker

PASSWORD = "pw-7Hq2-not-in-logs"


class Mosquitto(MosquittoBroker):
    """A mosquitto process for the devices ``device-00`` .. ``device-NN`` and the ``manager``."""

    def __init__(self, directory: Path, devices: int = 40) -> None:
        super().__init__(directory, {"manager": PASSWORD, **{f"device-{i:02d}": PASSWORD for i in range(devices)}})
