"""The operator's commands against a real mosquitto: keygen, status, config, telemetry, rollout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from splitrank.cli import main
from splitrank.processes import wait_until
from tests.devices.fleet_sim import SimDevice, make_version
from tests.devices.mosquitto import PASSWORD, Mosquitto

pytestmark = pytest.mark.slow


def test_fleet_commands(mosquitto: Mosquitto, tiny_bundle: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    keys = tmp_path / "keys"
    assert runner.invoke(main, ["fleet", "keygen", "--out", str(keys)]).exit_code == 0
    again = runner.invoke(main, ["fleet", "keygen", "--out", str(keys)])
    assert again.exit_code != 0 and "exists" in again.output
    from devices.release import load_public_key

    device = SimDevice("device-00", tiny_bundle, tmp_path / "device-00", mosquitto.address("device-00"), load_public_key(keys / "release.pub"),
                       telemetry_interval_s=0.2)
    device.fleet.start()
    broker = ["--broker", f"127.0.0.1:{mosquitto.port}", "--password", PASSWORD]
    try:
        status = runner.invoke(main, ["fleet", "status", *broker, "--wait", "1", "--format", "json"])
        assert status.exit_code == 0, status.output
        (row,) = json.loads(status.output)
        assert row["device_id"] == "device-00" and row["online"] and row["model_version"] == tiny_bundle.name
        clients = mosquitto.directory / "clients"
        over_tls = runner.invoke(main, ["fleet", "status", "--broker", f"localhost:{mosquitto.tls_port}", "--tls-ca",
                                        str(mosquitto.directory / "ca" / "ca.pem"), "--tls-cert", str(clients / "manager.pem"),
                                        "--tls-key", str(clients / "manager.key"), "--wait", "1", "--format", "json"])
        assert over_tls.exit_code == 0, over_tls.output
        assert [r["device_id"] for r in json.loads(over_tls.output)] == ["device-00"]
        assert runner.invoke(main, ["fleet", "config", *broker, "device-00", "--policy", "split"]).exit_code == 0
        wait_until(lambda: device.runtime.policy() == "split", 10, "config to arrive")
        assert device.runtime.policy() == "split"
        telemetry = runner.invoke(main, ["fleet", "telemetry", *broker, "--seconds", "1", "--format", "json"])
        assert telemetry.exit_code == 0 and json.loads(telemetry.output)["received"] >= 1
        good = make_version(tiny_bundle, tmp_path / "v" / "2")
        rollout = runner.invoke(main, ["fleet", "rollout", *broker, "--bundle", str(good), "--key", str(keys / "release.key"),
                                       "--previous-version", tiny_bundle.name, "--health-window-s", "0", "--releases", str(tmp_path / "rel"),
                                       "--format", "json"])
        assert rollout.exit_code == 0, rollout.output
        assert json.loads(rollout.output)["outcomes"] == {"device-00": "INSTALLED"}
        assert device.runtime.model_version() == "2"
    finally:
        device.fleet.stop()
    wrong = runner.invoke(main, ["fleet", "status", "--broker", f"127.0.0.1:{mosquitto.port}", "--password", "wrong", "--wait", "0"])
    assert wrong.exit_code != 0 and "no MQTT broker answered" in wrong.output


def test_broker_writes_a_mosquitto_setup_with_tls() -> None:
    import shutil
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="splitrank-broker-cli-"))  # in /tmp: the mosquitto user can reach it when run as root
    try:
        result = CliRunner().invoke(main, ["broker", "--mosquitto-config", str(directory), "--devices", "2", "--port", "18931",
                                           "--tls-port", "18932"])
        assert result.exit_code == 0, result.output
        conf = (directory / "mosquitto.conf").read_text()
        assert "listener 18932 127.0.0.1" in conf and "require_certificate true" in conf and "use_identity_as_username true" in conf
        assert "autosave_on_changes true" in conf and "\nuser mosquitto\n" in conf
        for name in ("manager", "device-00", "device-01"):
            assert (directory / "clients" / f"{name}.pem").is_file()
            assert (directory / "clients" / f"{name}.key").stat().st_mode & 0o077 == 0
        assert (directory / "credentials.json").stat().st_mode & 0o077 == 0 and (directory / "ca" / "ca.key").stat().st_mode & 0o077 == 0
        assert set(json.loads((directory / "credentials.json").read_text())) == {"manager", "device-00", "device-01"}
    finally:
        shutil.rmtree(directory, ignore_errors=True)
