"""A real mosquitto broker as a managed process, set up by ``devices.broker.write_mosquitto_config``
(per-user passwords and TLS client certificates, the shipped ACL, persistence, dropped to the
``mosquitto`` user when started as root): for the chaos and soak benchmarks, the demo stack and the
fleet tests. It can be SIGKILLed and started again on the same ports, with its persisted sessions.

    broker = MosquittoBroker(Path(tempfile.mkdtemp()), {"manager": "pw", "device-00": "pw"})
    manager = FleetManager(broker.address("manager"))
"""

from __future__ import annotations

import shutil
from pathlib import Path

from devices.broker import write_mosquitto_config
from devices.mqtt import BrokerAddress
from splitrank.ports import free_port
from splitrank.processes import ManagedProcess, port_open


class MosquittoBroker:
    """mosquitto for ``users`` (user name -> password) in ``directory`` (which the broker's user must be able to
    reach: not under a 0700 folder), on a plain port and a TLS port; started at construction."""

    def __init__(self, directory: Path, users: dict[str, str], *, autosave_changes: int = 20) -> None:
        if shutil.which("mosquitto") is None:
            raise FileNotFoundError("mosquitto not found: install it (apt install mosquitto)")
        self.directory = directory
        self.users = dict(users)
        self.port, self.tls_port = free_port(), free_port()
        self.conf = write_mosquitto_config(directory, port=self.port, users=self.users, tls_port=self.tls_port,
                                           autosave_changes=autosave_changes)
        self.process: ManagedProcess | None = None
        self.start()

    def start(self) -> None:
        """Start it (again) on the same ports, with what it persisted; returns once it accepts connections."""
        self.process = ManagedProcess(["mosquitto", "-c", str(self.conf)], what="mosquitto", log=self.directory / "mosquitto.log")
        self.process.wait_ready(lambda: port_open(self.port), timeout_s=10)

    @property
    def pid(self) -> int:
        """The running broker's process id."""
        assert self.process is not None, "not started"
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: what it has not saved yet is lost, as in a crash."""
        assert self.process is not None, "not started"
        self.process.kill()

    def stop(self) -> None:
        """SIGTERM (it saves its database), SIGKILL after 5 s."""
        if self.process is not None:
            self.process.stop(5)

    def address(self, user: str) -> BrokerAddress:
        """Log in as ``user`` with its password on the plain port (MQTT 5)."""
        return BrokerAddress("127.0.0.1", self.port, username=user, password=self.users[user], protocol="5")

    def tls_address(self, certificate_of: str, *, ca_file: str | None = None) -> BrokerAddress:
        """Log in over TLS with the client certificate issued to ``certificate_of`` (no password)."""
        clients = self.directory / "clients"
        return BrokerAddress("localhost", self.tls_port, protocol="5", tls_ca_file=ca_file or str(self.directory / "ca" / "ca.pem"),
                             tls_cert_file=str(clients / f"{certificate_of}.pem"), tls_key_file=str(clients / f"{certificate_of}.key"))
