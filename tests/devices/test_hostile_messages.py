"""Hostile MQTT payloads on every topic a device or the manager reads, against a real mosquitto: each
message is acknowledged, logged, counted (in telemetry for the device) and never stops the client; the
password never reaches a log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from benchmarks.fuzz import examples_from_env, hostile_payloads, parses
from devices import topics
from devices.manager import FleetManager
from devices.mqtt import MqttConnection
from protos.v1 import fleet_pb2
from splitrank.processes import wait_until
from tests.devices.fleet_sim import SimDevice
from tests.devices.mosquitto import PASSWORD, Mosquitto

pytestmark = pytest.mark.slow


def _fuzz_topic(connection: MqttConnection, topic: str, message: type, examples: int) -> tuple[int, int]:
    """Publish hostile payloads for ``message`` on ``topic`` (QoS 1, each acknowledged); (inputs, of them non-empty and unparseable)."""
    counts = [0, 0]

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(payload=hostile_payloads(message))
    def publish(payload: bytes) -> None:
        connection.client.publish(topic, payload, qos=1).wait_for_publish(5)
        counts[0] += 1
        counts[1] += bool(payload) and not parses(message, payload)

    publish()
    return counts[0], counts[1]


def test_hostile_payloads_on_every_topic_are_dropped_counted_and_logged(mosquitto: Mosquitto, tiny_bundle: Path, tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    manager = FleetManager(mosquitto.address("manager"))
    manager.start()
    device = SimDevice("device-04", tiny_bundle, tmp_path / "device-04", mosquitto.address("device-04"), None)
    intruder = MqttConnection(mosquitto.address("device-05"), "hostile-device-05", persistent=False)  # a device sending garbage
    sent = {"device": 0, "manager": 0}
    inputs: dict[str, int] = {}
    try:
        device.fleet.start()
        assert intruder.start(10)
        wait_until(lambda: any(row["device_id"] == "device-04" and row["online"] for row in manager.status()), what="device online")
        examples = examples_from_env(25)
        for kind, message in (("config", fleet_pb2.DeviceConfig), ("models", fleet_pb2.ModelRelease)):  # what the device reads
            inputs[kind], undecodable = _fuzz_topic(manager.connection, topics.topic("device-04", kind), message, examples)
            sent["device"] += undecodable
        for kind, message in (("state", fleet_pb2.DeviceState), ("telemetry", fleet_pb2.Telemetry), ("ack", fleet_pb2.Ack)):
            inputs[kind], undecodable = _fuzz_topic(intruder, topics.topic("device-05", kind), message, examples)
            sent["manager"] += undecodable
        assert all(count >= 10 for count in inputs.values()), inputs
        wait_until(lambda: device.fleet.malformed_received == sent["device"], 30, "the device to count every malformed message")
        wait_until(lambda: manager.devices["device-05"].totals["malformed"] == sent["manager"], 30, "the manager to count them")
        # both still work: the device answers a release order with an ack, and its telemetry carries its count
        manager.publish_release("device-04", fleet_pb2.ModelRelease(release_id="after-fuzz", model_version="no-such-version"))
        acks = manager.wait_for_acks("after-fuzz", ["device-04"], 60)
        assert acks["device-04"].status == fleet_pb2.Ack.STATUS_REJECTED
        device.fleet.send_telemetry()
        wait_until(lambda: manager.devices["device-04"].malformed_at_device == sent["device"], 30, "the count in telemetry")
    finally:
        intruder.stop()
        device.fleet.stop()
        manager.stop()
    assert sent["device"] > 0 and sent["manager"] > 0
    print(f"MQTT fuzz: inputs per topic {inputs}; malformed counted by the device {sent['device']}, by the manager {sent['manager']}")  # -s shows it
    logged = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert any(r.name == "splitrank.device" for r in logged) and any(r.name == "splitrank.fleet" for r in logged)
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(mosquitto.address("device-04"))
