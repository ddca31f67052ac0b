"""MQTT over TLS against a real mosquitto set up by ``write_mosquitto_config`` (the setup of
``splitrank broker --mosquitto-config``): a device logs in with its own certificate and cannot act as
another device; a wrong CA, a foreign certificate or none is refused; the broker does not run as root."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from devices import topics
from devices.manager import FleetManager
from devices.mqtt import BrokerAddress, MqttConnection
from devices.pki import FleetCA
from splitrank.processes import wait_until
from tests.devices.fleet_sim import SimDevice
from tests.devices.mosquitto import PASSWORD, Mosquitto

pytestmark = pytest.mark.slow


def _publish(address: BrokerAddress, topic: str) -> str:
    """Connect, publish one QoS 1 message; the broker's answer ("Success", "Not authorized", ...) or "no connection"."""
    connection = MqttConnection(address, f"probe-{os.getpid()}-{threading.get_ident()}", persistent=False)
    answered = threading.Event()
    reasons: list[str] = []
    connection.client.on_publish = lambda client, userdata, mid, reason, properties: (reasons.append(str(reason)), answered.set())
    try:
        if not connection.start(5):
            return "no connection"
        connection.client.publish(topic, b"x", qos=1)
        assert answered.wait(5), "no PUBACK"
        return "Success" if reasons[0] == "No matching subscribers" else reasons[0]
    finally:
        connection.stop()


def test_a_device_connects_with_its_certificate_and_cannot_act_as_another(mosquitto: Mosquitto) -> None:
    own = mosquitto.tls_address("device-00")
    assert _publish(own, topics.topic("device-00", "telemetry")) == "Success"
    assert _publish(own, topics.topic("device-01", "telemetry")) == "Not authorized"
    assert _publish(own, topics.topic("device-01", "config")) == "Not authorized"
    # the certificate names the device, not the user name it claims: device-01's certificate with device-00's password
    claimed = BrokerAddress(own.host, own.port, username="device-00", password=PASSWORD, protocol="5", tls_ca_file=own.tls_ca_file,
                            tls_cert_file=str(mosquitto.directory / "clients" / "device-01.pem"),
                            tls_key_file=str(mosquitto.directory / "clients" / "device-01.key"))
    assert _publish(claimed, topics.topic("device-00", "telemetry")) == "Not authorized"


def test_wrong_ca_foreign_certificate_and_no_certificate_are_refused(mosquitto: Mosquitto, tmp_path: Path) -> None:
    stranger = FleetCA(tmp_path / "stranger-ca")
    cert, key = stranger.issue("device-00", tmp_path / "stranger")
    own = mosquitto.tls_address("device-00")
    wrong_ca = BrokerAddress(own.host, own.port, protocol="5", tls_ca_file=str(stranger.cert_file), tls_cert_file=own.tls_cert_file,
                             tls_key_file=own.tls_key_file)
    foreign = BrokerAddress(own.host, own.port, protocol="5", tls_ca_file=own.tls_ca_file, tls_cert_file=str(cert), tls_key_file=str(key))
    no_certificate = BrokerAddress(own.host, own.port, username="device-00", password=PASSWORD, protocol="5", tls_ca_file=own.tls_ca_file)
    for address in (wrong_ca, foreign, no_certificate):
        assert _publish(address, topics.topic("device-00", "telemetry")) == "no connection", address
    plaintext_on_tls_port = BrokerAddress(own.host, own.port, username="device-00", password=PASSWORD, protocol="5")
    assert _publish(plaintext_on_tls_port, topics.topic("device-00", "telemetry")) == "no connection"


def test_fleet_runs_over_tls_and_the_broker_is_not_root(mosquitto: Mosquitto, tiny_bundle: Path, tmp_path: Path) -> None:
    manager = FleetManager(mosquitto.tls_address("manager"))
    manager.start()
    device = SimDevice("device-03", tiny_bundle, tmp_path / "device-03", mosquitto.tls_address("device-03"), None)
    try:
        device.fleet.start()
        wait_until(lambda: any(row["device_id"] == "device-03" and row["online"] for row in manager.status()), what="device online over TLS")
        device.fleet.send_telemetry()
        wait_until(lambda: manager.telemetry_summary()["received"] >= 1, what="telemetry over TLS")
    finally:
        device.fleet.stop()
        manager.stop()
    assert mosquitto.process is not None
    uid = int(next(line for line in Path(f"/proc/{mosquitto.process.pid}/status").read_text().splitlines() if line.startswith("Uid:")).split()[1])
    assert uid != 0
    conf = mosquitto.conf.read_text()
    assert "autosave_on_changes true\nautosave_interval 20\n" in conf and "user mosquitto" in conf
    assert (mosquitto.directory / "clients" / "device-03.key").stat().st_mode & 0o077 == 0
