"""Fleet managers side by side against a real mosquitto: one rollout leader, and a manager's death that
loses and double-counts nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from benchmarks.fleet import run_fleet_benchmark
from devices import topics
from devices.lease import LeaseHeld
from devices.manager import FleetManager, RolloutResult
from devices.mqtt import MqttConnection
from devices.release import generate_keypair, load_private_key, load_public_key, make_release
from devices.rollout import RolloutPlan
from tests.devices.fleet_sim import SimDevice, make_version
from tests.devices.mosquitto import Mosquitto

pytestmark = pytest.mark.slow


def test_two_managers_started_together_run_one_rollout(mosquitto: Mosquitto, tiny_bundle: Path, tmp_path: Path) -> None:
    private_path, public_path = generate_keypair(tmp_path / "keys")
    private, public = load_private_key(private_path), load_public_key(public_path)
    devices = [SimDevice(f"device-{i:02d}", tiny_bundle, tmp_path / f"device-{i:02d}", mosquitto.address(f"device-{i:02d}"), public)
               for i in range(2)]
    managers = [FleetManager(mosquitto.address("manager"), client_id=f"manager-{name}", group="ops") for name in "ab"]
    releases: list[str] = []
    probe = MqttConnection(mosquitto.address("manager"), "release-probe", persistent=False)
    probe.client.on_message = lambda client, userdata, message: releases.append(message.topic) if message.payload else None
    assert probe.start(10)
    probe.client.subscribe(topics.all_devices("models"), qos=1)
    for device in devices:
        device.fleet.start()
    for manager in managers:
        manager.start()
    good = make_version(tiny_bundle, tmp_path / "v" / "2")
    release = make_release(good, private, tmp_path / "releases", release_id="r-once", health_window_s=0)
    outcomes: dict[str, RolloutResult | Exception] = {}
    go = threading.Barrier(2)

    def roll(manager: FleetManager) -> None:
        go.wait()
        try:
            outcomes[manager.manager_id] = manager.rollout(release, ["device-00", "device-01"], RolloutPlan(canary_share=0.5, wave_timeout_s=60),
                                                           previous_version=tiny_bundle.name)
        except LeaseHeld as err:
            outcomes[manager.manager_id] = err

    try:
        threads = [threading.Thread(target=roll, args=(manager,)) for manager in managers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        time.sleep(0.5)
        results = [o for o in outcomes.values() if isinstance(o, RolloutResult)]
        refused = [o for o in outcomes.values() if isinstance(o, LeaseHeld)]
        assert len(results) == 1 and len(refused) == 1, outcomes
        assert results[0].outcomes == {"device-00": "INSTALLED", "device-01": "INSTALLED"}
        assert sorted(releases) == [topics.topic("device-00", "models"), topics.topic("device-01", "models")]  # each released once
        assert all(device.runtime.model_version() == "2" for device in devices)
        assert all(manager.lease.current() is None for manager in managers)  # the leader gave the lease back
    finally:
        probe.stop()
        for manager in managers:
            manager.stop()
        for device in devices:
            device.fleet.stop()


def test_a_killed_manager_loses_and_double_counts_nothing() -> None:
    result = run_fleet_benchmark(devices=100, seconds=6, managers=2, kill_one=True, progress=lambda line: None)
    assert result["sent"] >= 600
    assert result["missing"] == 0 and result["duplicates_counted"] == 0 and result["handled"] == result["sent"], result
    assert result["p99_lag_s"] <= 1.0, result
