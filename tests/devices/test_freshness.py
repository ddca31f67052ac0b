"""The freshness push against a real mosquitto and real agents (gRPC over TCP, the TFLite edge step):
a signed prior is applied live and changes the ranking; tampered, unsigned, truncated, replayed-old
and out-of-order pushes are refused and reported while the old prior keeps serving; a device that
missed pushes shows its growing prior age, and catches up from its persistent session."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core.prior import DAY_S, quantize
from devices.device import DeviceSettings, FleetDevice
from devices.freshness import PriorChannel, sign_update
from devices.manager import FleetManager
from devices.release import generate_keypair, load_private_key
from edge.server import AgentSettings, RunningAgent, start_agent
from protos.v1 import fleet_pb2
from splitrank.client import Client
from splitrank.device_agent import AgentRuntime
from splitrank.processes import wait_until
from tests.devices.mosquitto import Mosquitto
from tests.loop_thread import LoopThread

pytestmark = pytest.mark.slow
START = 1_700_000_000 // DAY_S * DAY_S


class FleetAgent(LoopThread):
    """A real agent (gRPC on a free port) joined to the fleet, as ``run-agent --mqtt`` composes them."""

    def __init__(self, device_id: str, bundle: Path, state_dir: Path, mosquitto: Mosquitto, public_key: object,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.running: RunningAgent = self.call(start_agent(AgentSettings(repository=bundle, policy="local", port=0)))
        self.client = Client(f"127.0.0.1:{self.running.port}")
        self.runtime = AgentRuntime(self.running.service)
        self.settings = DeviceSettings(device_id, mosquitto.address(device_id), state_dir, public_key=public_key,  # type: ignore[arg-type]
                                       telemetry_interval_s=3600.0, clock=clock)
        self.rejoin()

    def rejoin(self) -> None:
        """(Re)connect to the fleet: the broker kept this device's session (subscriptions, queued pushes)."""
        self.fleet = FleetDevice(self.settings, self.runtime)
        self.fleet.start()

    def ranking(self) -> list[str]:
        return self.client.rank([], k=10, deadline_s=5.0).item_ids

    def close(self) -> None:
        self.fleet.stop()
        self.client.close()
        self.call(self.running.stop())
        super().close()


def boosted(n_items: int, item: int) -> np.ndarray:
    """A prior in which one item is the day's top seller and the rest sell little."""
    values = np.full(n_items, 0.05, np.float32)
    values[0], values[item] = 0.0, 1.0
    return values


def test_push_is_applied_live_and_bad_pushes_are_refused(mosquitto: Mosquitto, manager: FleetManager, keys, tiny_bundle: Path,
                                                         tmp_path: Path) -> None:
    private, public = keys
    device = FleetAgent("device-00", tiny_bundle, tmp_path / "device-00", mosquitto, public)
    try:
        wait_until(lambda: any(r["online"] for r in manager.status()), what="the device online")
        model = device.running.service.model
        before = device.ranking()
        outsider = next(code for code in model.codes[1:] if code not in before)
        channel = PriorChannel(private)
        push, _ = channel.push(boosted(model.catalogue_size + 1, model.index[outsider]), START)
        manager.publish_prior(push)
        wait_until(lambda: device.runtime.prior().version == 1, what="the push applied")
        after = device.ranking()
        assert after != before and after[0] == outsider, "the pushed prior reaches the model without a reload"
        assert device.running.service.model is model
        wait_until(lambda: manager.status()[0]["prior_version"] == 1, what="the state to report prior version 1")

        last = boosted(model.catalogue_size + 1, model.index[before[-1]])
        almost = last.copy()
        almost[model.index[before[0]]] = 0.5
        second, update2 = channel.push(almost, START + DAY_S)
        third, update3 = channel.push(last, START + 2 * DAY_S)
        assert update3.base_version == 2, "a small change goes as a delta"
        tampered = fleet_pb2.PriorPush.FromString(second.SerializeToString())
        body = bytearray(tampered.update)
        body[-1] ^= 0x01
        tampered.update = bytes(body)
        unsigned = fleet_pb2.PriorPush(update=second.update, sha256=second.sha256)
        bad = {"tampered": tampered.SerializeToString(), "unsigned": unsigned.SerializeToString(),
               "truncated": second.SerializeToString()[: second.ByteSize() // 2],
               "out of order": third.SerializeToString(),  # a delta against version 2, which the device never got
               "forged": sign_update(update2, load_private_key(generate_keypair(tmp_path / "other")[0])).SerializeToString()}
        for number, (name, payload) in enumerate(bad.items(), start=1):
            manager.connection.client.publish("splitrank/v1/fleet/prior", payload, qos=1, retain=True).wait_for_publish(5)
            wait_until(lambda number=number: device.fleet.prior_refused == number, what=f"the {name} push refused")
            assert device.runtime.prior().version == 1 and device.ranking() == after, f"the {name} push changed what serves"
        assert "signature" in device.fleet.prior_refused_reason  # the last one: forged
        wait_until(lambda: "signature" in manager.status()[0]["prior_refused_reason"], what="the refusal in the device's state")
        device.fleet.send_telemetry()
        wait_until(lambda: manager.telemetry_summary().get("prior_refused", 0) == len(bad), what="refusals in telemetry")

        manager.publish_prior(second)  # now in order: version 2, then the delta 3 applies
        wait_until(lambda: device.runtime.prior().version == 2, what="version 2")
        manager.publish_prior(third)
        wait_until(lambda: device.runtime.prior().version == 3, what="version 3 from a delta")
        manager.publish_prior(push)  # replayed: the old version 1 again
        wait_until(lambda: device.fleet.prior_refused == len(bad) + 1, what="the replayed push refused")
        assert "older" in device.fleet.prior_refused_reason and device.runtime.prior().version == 3
        expected = quantize(last, version=3, day_unix_s=START + 2 * DAY_S)
        assert np.array_equal(device.runtime.prior().quantized, expected.quantized)
    finally:
        device.close()


def test_a_device_that_missed_pushes_shows_its_growing_prior_age_and_catches_up(mosquitto: Mosquitto, manager: FleetManager, keys,
                                                                                tiny_bundle: Path, tmp_path: Path) -> None:
    private, public = keys
    clock = [float(START)]
    fresh = FleetAgent("device-00", tiny_bundle, tmp_path / "device-00", mosquitto, public, clock=lambda: clock[0])
    offline = FleetAgent("device-01", tiny_bundle, tmp_path / "device-01", mosquitto, public, clock=lambda: clock[0])
    try:
        wait_until(lambda: sum(r["online"] for r in manager.status()) == 2, what="two devices online")
        n = fresh.running.service.model.catalogue_size + 1
        channel = PriorChannel(private)
        rng = np.random.default_rng(0)
        values = rng.random(n).astype(np.float32)

        def push_day(day: int) -> None:
            values[rng.integers(1, n, 5)] = rng.random(5)
            push, _ = channel.push(values, START + day * DAY_S)
            manager.publish_prior(push)
            clock[0] = START + day * DAY_S + 3600

        push_day(0)
        wait_until(lambda: offline.runtime.prior().version == 1 and fresh.runtime.prior().version == 1, what="both on version 1")
        offline.fleet.stop()  # it goes offline; its persistent session stays at the broker
        ages = []
        for day in (1, 2, 3):
            push_day(day)
            wait_until(lambda day=day: fresh.runtime.prior().version == day + 1, what=f"the fresh device on day {day}")
            wait_until(lambda: {r["device_id"]: r for r in manager.status()}["device-00"]["prior_age_days"] == 0, what="fresh state")
            ages.append({r["device_id"]: r for r in manager.status()}["device-01"])
        assert [row["prior_age_days"] for row in ages] == [1.0, 2.0, 3.0]
        assert [row["stale"] for row in ages] == [False, False, True]
        assert offline.runtime.prior().version == 1
        will = fleet_pb2.DeviceState(device_id="device-01", online=False)  # what the broker publishes when a device vanishes
        manager.connection.client.publish("splitrank/v1/devices/device-01/state", will.SerializeToString(), qos=1, retain=True).wait_for_publish(5)
        wait_until(lambda: manager.devices["device-01"].state.unix_time_s == 0, what="the last will")
        assert {r["device_id"]: r for r in manager.status()}["device-01"]["prior_age_days"] == 3.0, "a last will does not reset the prior age"
        offline.fleet.send_telemetry()  # queued in its outbox while offline: what it will report
        reported = fleet_pb2.Telemetry.FromString(offline.fleet.outbox.pending()[-1][1])
        assert reported.prior_version == 1 and reported.prior_age_days == pytest.approx(3 + 1 / 24)

        offline.rejoin()
        wait_until(lambda: offline.runtime.prior().version == 4, what="the queued pushes applied in order")
        assert np.array_equal(offline.runtime.prior().quantized, fresh.runtime.prior().quantized)
        assert offline.fleet.prior_refused == 0
    finally:
        fresh.close()
        offline.close()


def test_the_schedule_pushes_each_day_and_a_restarted_job_goes_on_numbering(mosquitto: Mosquitto, manager: FleetManager, keys,
                                                                            tiny_bundle: Path, synthetic_data: Path) -> None:
    import json
    from datetime import date

    from cloud.data.cleaning import clean_interactions
    from cloud.data.loader import load_online_retail
    from cloud.data.popularity import trailing_prior
    from splitrank.freshness import PriorSchedule, push_priors

    private, _ = keys
    codes = json.loads((tiny_bundle / "catalogue.json").read_text())["codes"]
    frame = clean_interactions(load_online_retail(str(synthetic_data)))[0]
    first = frame["time"].max().date()
    lines: list[str] = []
    assert push_priors(manager, private, codes, lambda: frame, PriorSchedule(every_s=0.01, first_day=first, count=3), say=lines.append) == 3
    assert len(lines) == 3 and "full" in lines[0]
    wait_until(lambda: manager.newest_prior is not None and manager.newest_prior.version == 3, what="the third push retained")
    restarted = FleetManager(mosquitto.address("manager"), client_id="another-job")
    restarted.start()
    try:
        assert push_priors(restarted, private, codes, lambda: frame, PriorSchedule(first_day=date(2011, 12, 1), count=1)) == 4
    finally:
        restarted.stop()
    wait_until(lambda: manager.newest_prior is not None and manager.newest_prior.version == 4, what="version 4")
    expected = quantize(trailing_prior(frame, codes, date(2011, 12, 1)), version=4, day_unix_s=0)
    assert manager.newest_prior.encoding == 1 and manager.newest_prior.day_unix_s == int(np.datetime64("2011-12-01", "s").astype(int))
    assert manager.newest_prior.scale == expected.scale
