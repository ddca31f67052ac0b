"""A real mosquitto for the fleet tests: per-device passwords and TLS client certificates, the shipped
ACL, persistence, dropped to the ``mosquitto`` user when the tests run as root; it can be killed (SIGKILL)
and started again on the same ports."""

from __future__ import annotations

from pathlib import Path

from devices.broker import write_mosquitto_config
from devices.mqtt import BrokerAddress
from splitrank.ports import free_port
from splitrank.processes import ManagedProcess, port_open

PASSWORD = "pw-7Hq2-not-in-logs"


class Mosquitto:
    """A mosquitto process for the devices ``device-00`` .. ``device-NN`` and the ``manager``."""

    def __init__(self, directory: Path, devices: int = 40) -> None:
        self.directory = directory
        self.port, self.tls_port = free_port(), free_port()
        users = {"manager": PASSWORD, **{f"device-{i:02d}": PASSWORD for i in range(devices)}}
        self.conf = write_mosquitto_config(directory, port=self.port, users=users, tls_port=self.tls_port)
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

    def tls_address(self, certificate_of: str, *, ca_file: str | None = None) -> BrokerAddress:
        """Log in over TLS with the client certificate issued to ``certificate_of`` (no password)."""
        clients = self.directory / "clients"
        return BrokerAddress("localhost", self.tls_port, protocol="5", tls_ca_file=ca_file or str(self.directory / "ca" / "ca.pem"),
                             tls_cert_file=str(clients / f"{certificate_of}.pem"), tls_key_file=str(clients / f"{certificate_of}.key"))
