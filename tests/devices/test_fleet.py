"""The fleet against a real mosquitto: rollouts that halt and roll back, telemetry that survives a
broker kill, the ACL, signed releases, live config and the device shadow."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from devices import topics
from devices.manager import FleetManager
from devices.mqtt import BrokerAddress, MqttConnection
from devices.release import make_release
from devices.rollout import RolloutPlan
from protos.v1 import fleet_pb2
from splitrank.processes import wait_until
from tests.devices.fleet_sim import SimDevice, make_version
from tests.devices.mosquitto import Mosquitto

pytestmark = pytest.mark.slow


def start_devices(n: int, tiny_bundle: Path, tmp_path: Path, mosquitto: Mosquitto, public_key: object, **kwargs: float) -> list[SimDevice]:
    devices = [SimDevice(f"device-{i:02d}", tiny_bundle, tmp_path / f"device-{i:02d}", mosquitto.address(f"device-{i:02d}"), public_key, **kwargs)
               for i in range(n)]
    for device in devices:
        device.fleet.start()
    return devices


def test_rollout_halts_when_the_canary_regresses(mosquitto: Mosquitto, manager: FleetManager, keys, tiny_bundle: Path, tmp_path: Path) -> None:
    private, public = keys
    devices = start_devices(20, tiny_bundle, tmp_path, mosquitto, public)
    try:
        wait_until(lambda: sum(r["online"] for r in manager.status()) == 20, what="20 devices online")
        bad = make_version(tiny_bundle, tmp_path / "bad" / "2", break_catalogue=True)
        release = make_release(bad, private, tmp_path / "releases", release_id="r-bad", health_window_s=0)
        result = manager.rollout(release, [f"device-{i:02d}" for i in range(20)], RolloutPlan(canary_share=0.05, wave_timeout_s=60),
                                 previous_version=tiny_bundle.name)
        assert result.halted and len(result.waves[0]) == 1
        canary = result.waves[0][0]
        assert result.outcomes[canary] == "ROLLED_BACK"
        assert sum(outcome == "NOT_REACHED" for outcome in result.outcomes.values()) == 19
        assert all(device.runtime.model_version() == tiny_bundle.name for device in devices)
        wait_until(lambda: all(r["model_version"] == tiny_bundle.name for r in manager.status()), what="states to report")
        assert not any(r["model_version"] == "2" for r in manager.status())  # 0 devices left on the bad model
    finally:
        for device in devices:
            device.fleet.stop()


def test_good_rollout_reaches_every_device_in_growing_waves(mosquitto: Mosquitto, manager: FleetManager, keys, tiny_bundle: Path,
                                                            tmp_path: Path) -> None:
    private, public = keys
    devices = start_devices(6, tiny_bundle, tmp_path, mosquitto, public)
    try:
        good = make_version(tiny_bundle, tmp_path / "good" / "2")
        release = make_release(good, private, tmp_path / "releases", release_id="r-good", health_window_s=0)
        result = manager.rollout(release, [f"device-{i:02d}" for i in range(6)], RolloutPlan(canary_share=0.1, growth=2.0),
                                 previous_version=tiny_bundle.name)
        assert not result.halted and set(result.outcomes.values()) == {"INSTALLED"}
        assert [len(w) for w in result.waves] == [1, 2, 3]
        assert all(device.runtime.model_version() == "2" for device in devices)
    finally:
        for device in devices:
            device.fleet.stop()


def test_tampered_and_unsigned_releases_are_refused_and_reported(mosquitto: Mosquitto, manager: FleetManager, keys, tiny_bundle: Path,
                                                                  tmp_path: Path) -> None:
    private, public = keys
    (device,) = start_devices(1, tiny_bundle, tmp_path, mosquitto, public)
    try:
        good = make_version(tiny_bundle, tmp_path / "v" / "2")
        tampered = make_release(good, private, tmp_path / "releases", release_id="r-tampered")
        archive = Path(tampered.url.removeprefix("file://"))
        archive.write_bytes(archive.read_bytes() + b"\0")
        unsigned = make_release(good, private, tmp_path / "releases2", release_id="r-unsigned")
        unsigned.ClearField("signature")
        forged = make_release(good, private, tmp_path / "releases3", release_id="r-forged")
        forged.sha256 = hashlib.sha256(b"something else").digest()
        for release, reason in ((tampered, "does not match"), (unsigned, "unsigned"), (forged, "does not match")):
            manager.publish_release("device-00", release)
            acks = manager.wait_for_acks(release.release_id, ["device-00"], 20)
            assert acks["device-00"].status == fleet_pb2.Ack.STATUS_REJECTED and reason in acks["device-00"].reason
        assert device.runtime.model_version() == tiny_bundle.name
    finally:
        device.fleet.stop()


def test_broker_killed_mid_telemetry_loses_nothing(mosquitto: Mosquitto, manager: FleetManager, keys, tiny_bundle: Path, tmp_path: Path) -> None:
    _, public = keys
    devices = start_devices(3, tiny_bundle, tmp_path, mosquitto, public, telemetry_interval_s=0.05)
    try:
        wait_until(lambda: manager.telemetry_summary()["received"] > 30, what="telemetry to flow")
        mosquitto.kill()
        time.sleep(1.0)  # devices keep producing into their outboxes
        mosquitto.start()
        time.sleep(1.0)
    finally:
        for device in devices:
            device.fleet._stop.set()
    wait_until(lambda: all(len(d.fleet.outbox) == 0 for d in devices), 30, "outboxes to drain")
    sent = {d.fleet.device_id: d.fleet.outbox.next_seq() - 1 for d in devices}
    wait_until(lambda: all(len(manager.devices[i].seqs) >= n for i, n in sent.items()), 30, "manager to receive everything")
    for device_id, last in sent.items():
        assert manager.devices[device_id].seqs >= set(range(1, last + 1)), device_id
    assert manager.telemetry_summary()["missing"] == 0
    for device in devices:
        device.fleet.stop()


def test_acl_keeps_a_device_inside_its_own_subtree(mosquitto: Mosquitto, manager: FleetManager) -> None:
    connection = MqttConnection(mosquitto.address("device-01"), "acl-probe", persistent=False)
    results: dict[str, object] = {}
    received: list[str] = []
    connection.client.on_publish = lambda client, userdata, mid, reason, properties: results.setdefault(f"pub{mid}", reason)
    connection.client.on_message = lambda client, userdata, message: received.append(message.topic)
    assert connection.start(10)
    try:
        other = connection.client.publish(topics.topic("device-02", "state"), b"x", qos=1)
        own = connection.client.publish(topics.topic("device-01", "telemetry"), b"x", qos=1)
        connection.client.subscribe([(topics.topic("device-02", "config"), 1), (topics.topic("device-01", "config"), 1)])
        wait_until(lambda: len(results) == 2, what="broker answers")
        assert results[f"pub{other.mid}"].is_failure and results[f"pub{other.mid}"].value == 0x87  # Not authorized
        assert not results[f"pub{own.mid}"].is_failure
        manager.set_config(["device-02", "device-01"], policy="local")
        wait_until(lambda: topics.topic("device-01", "config") in received, what="own config")
        time.sleep(0.5)
        assert topics.topic("device-02", "config") not in received  # mosquitto never delivers another device's messages
    finally:
        connection.stop()
    intruder = MqttConnection(BrokerAddress("127.0.0.1", mosquitto.port, "device-01", "wrong"), "intruder", persistent=False)
    assert not intruder.start(3)
    intruder.client.loop_stop()


def test_config_applies_live_and_an_offline_device_catches_up(mosquitto: Mosquitto, manager: FleetManager, keys, tiny_bundle: Path,
                                                              tmp_path: Path) -> None:
    _, public = keys
    revision = manager.set_config(["device-00"], policy="split", cloud_fraction_target=0.4)  # the device is offline
    (device,) = start_devices(1, tiny_bundle, tmp_path, mosquitto, public)
    try:
        wait_until(lambda: device.runtime.policy() == "split", what="config on reconnect")
        assert device.service.router.config.target_cloud_fraction == pytest.approx(0.4)
        wait_until(lambda: any(r["config_revision"] == revision for r in manager.status()), what="reported state")
        assert device.service.router.config.budget_multiplier is None  # unset: the gain model's threshold for the target
        manager.set_config(["device-00"], policy="learned", budget_multiplier=0.015)  # the controller prices a call
        wait_until(lambda: device.service.router.config.budget_multiplier == pytest.approx(0.015), what="the controller's price of a call")
        manager.set_config(["device-00"], policy="threshold")
        wait_until(lambda: device.runtime.policy() == "threshold", what="live config")
        assert device.service.router.config.budget_multiplier is None
        manager.set_config(["device-00"], policy="nonsense")  # refused by the device; the old config stays
        time.sleep(0.5)
        assert device.runtime.policy() == "threshold"
    finally:
        device.fleet.stop()


def test_chunked_release_over_mqtt_installs(mosquitto: Mosquitto, manager: FleetManager, keys, tiny_bundle: Path, tmp_path: Path) -> None:
    private, public = keys
    (device,) = start_devices(1, tiny_bundle, tmp_path, mosquitto, public)
    try:
        wait_until(lambda: any(r["online"] for r in manager.status()), what="device online")
        good = make_version(tiny_bundle, tmp_path / "v" / "2")
        release = make_release(good, private, tmp_path / "releases", release_id="r-chunked", health_window_s=0)
        archive = Path(release.url.removeprefix("file://")).read_bytes()
        Path(release.url.removeprefix("file://")).unlink()  # the device cannot fetch it: the chunks are all it gets
        manager.publish_release_chunked("device-00", release, archive, chunk_bytes=100_000)
        acks = manager.wait_for_acks("r-chunked", ["device-00"], 30)
        assert acks["device-00"].status == fleet_pb2.Ack.STATUS_INSTALLED, acks["device-00"].reason
        assert device.runtime.model_version() == "2" and len(archive) > 100_000
    finally:
        device.fleet.stop()
