"""The fleet manager: a registry built from retained device state, telemetry aggregated and checked
for losses (sequence numbers), desired config per device (retained: the device shadow), and staged
model rollouts with automatic halt and rollback."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from devices import topics
from devices.mqtt import BrokerAddress, MqttConnection
from devices.rollout import RolloutPlan
from protos.v1 import fleet_pb2

log = logging.getLogger("splitrank.fleet")


@dataclass
class DeviceRecord:
    """What the manager knows about one device."""

    state: fleet_pb2.DeviceState | None = None
    seqs: set[int] = field(default_factory=set)
    duplicates: int = 0
    totals: Counter[str] = field(default_factory=Counter)
    dropped_by_device: int = 0
    malformed_at_device: int = 0
    """Messages to the device that it could not parse, as it last reported."""

    @property
    def missing(self) -> int:
        """Sequence numbers never received between the first and the last one seen."""
        return (max(self.seqs) - min(self.seqs) + 1 - len(self.seqs)) if self.seqs else 0


@dataclass(frozen=True)
class RolloutResult:
    """How a rollout ended."""

    release_id: str
    halted: bool
    outcomes: dict[str, str]  # device -> INSTALLED / ROLLED_BACK / REJECTED / TIMEOUT / ROLLED_BACK_BY_MANAGER / NOT_REACHED
    waves: list[list[str]]
    reason: str = ""


class FleetManager:
    """Subscribes to every device's state, telemetry and acks; publishes config and releases."""

    def __init__(self, broker: BrokerAddress, *, client_id: str = "splitrank-manager") -> None:
        self.connection = MqttConnection(broker, client_id)
        self.connection.on_connected = self._subscribe
        self.connection.client.on_message = self._on_message
        self.devices: dict[str, DeviceRecord] = {}
        self.acks: dict[str, dict[str, fleet_pb2.Ack]] = {}
        self.lags_s: list[float] = []
        self.received = 0
        self._lock = threading.Condition()
        self._revision = int(time.time() * 1000)
        self.on_telemetry: Callable[[fleet_pb2.Telemetry], None] = lambda message: None

    def start(self, wait_s: float = 10.0) -> None:
        """Connect (persistent session: telemetry sent while the manager is away waits at the broker)."""
        if not self.connection.start(wait_s):
            raise ConnectionError(f"no MQTT broker answered at {self.connection.broker.host}:{self.connection.broker.port} "
                                  f"within {wait_s:.0f} s{': ' + self.connection.refused if self.connection.refused else ''}")

    def stop(self) -> None:
        """Disconnect."""
        self.connection.stop()

    def _subscribe(self) -> None:
        self.connection.client.subscribe([(topics.all_devices(kind), 1) for kind in ("state", "telemetry", "ack")])

    def _on_message(self, client: object, userdata: object, message: Any) -> None:
        parsed = topics.parse(message.topic)
        if parsed is None or not message.payload:
            return
        device_id, kind = parsed
        try:
            if kind == "state":
                self._record(device_id).state = fleet_pb2.DeviceState.FromString(message.payload)
            elif kind == "telemetry":
                self._ingest(device_id, fleet_pb2.Telemetry.FromString(message.payload))
            elif kind == "ack":
                ack = fleet_pb2.Ack.FromString(message.payload)
                with self._lock:
                    self.acks.setdefault(ack.release_id, {})[device_id] = ack
                    self._lock.notify_all()
        except Exception as err:  # noqa: BLE001 - a malformed message from one device must not stop the manager
            record = self._record(device_id)
            record.totals["malformed"] += 1
            log.warning("dropped a malformed %s message from %s (%d bytes, %d from it so far): %s", kind, device_id, len(message.payload),
                        record.totals["malformed"], err)

    def _record(self, device_id: str) -> DeviceRecord:
        with self._lock:
            return self.devices.setdefault(device_id, DeviceRecord())

    def _ingest(self, device_id: str, message: fleet_pb2.Telemetry) -> None:
        record = self._record(device_id)
        with self._lock:
            if message.seq in record.seqs:
                record.duplicates += 1
                return
            record.seqs.add(message.seq)
            self.received += 1
            if message.sent_at_s:
                self.lags_s.append(time.time() - message.sent_at_s)
            record.dropped_by_device = message.dropped_before
            record.malformed_at_device = message.malformed_received
            for name in ("requests_local", "requests_split", "requests_cloud", "degraded", "errors", "cloud_bytes_up", "cloud_bytes_down"):
                record.totals[name] += getattr(message, name)
            record.totals["energy_joules"] += message.energy_joules
        self.on_telemetry(message)

    # --- views --------------------------------------------------------------------------------------
    def status(self) -> list[dict[str, Any]]:
        """One row per known device."""
        rows = []
        with self._lock:
            for device_id, record in sorted(self.devices.items()):
                state = record.state
                rows.append({"device_id": device_id, "online": bool(state and state.online), "model_version": state.model_version if state else "",
                             "policy": state.policy if state else "", "profile": state.profile if state else "",
                             "config_revision": state.config_revision if state else 0, "telemetry": len(record.seqs), "missing": record.missing})
        return rows

    def telemetry_summary(self) -> dict[str, Any]:
        """Fleet totals, losses and ingest lag."""
        with self._lock:
            totals: Counter[str] = Counter()
            for record in self.devices.values():
                totals.update(record.totals)
            lags = np.asarray(self.lags_s) if self.lags_s else np.zeros(1)
            return {"devices": len(self.devices), "received": self.received, "duplicates": sum(r.duplicates for r in self.devices.values()),
                    "missing": sum(r.missing for r in self.devices.values()), "p50_lag_s": float(np.percentile(lags, 50)),
                    "p99_lag_s": float(np.percentile(lags, 99)), "malformed_at_devices": sum(r.malformed_at_device for r in self.devices.values()),
                    **{k: float(v) for k, v in totals.items()}}

    # --- desired state ------------------------------------------------------------------------------
    def set_config(self, device_ids: Iterable[str], **fields: Any) -> int:
        """Publish the desired config (retained) to each device; returns its revision."""
        with self._lock:
            self._revision += 1
            revision = self._revision
        config = fleet_pb2.DeviceConfig(revision=revision, **fields)
        for device_id in device_ids:
            self.connection.client.publish(topics.topic(device_id, "config"), config.SerializeToString(), qos=1, retain=True)
        return revision

    def publish_release(self, device_id: str, release: fleet_pb2.ModelRelease) -> None:
        """The desired model of one device (retained, so an offline device installs it when it is back)."""
        self.connection.client.publish(topics.topic(device_id, "models"), release.SerializeToString(), qos=1, retain=True)

    def publish_release_chunked(self, device_id: str, release: fleet_pb2.ModelRelease, archive: bytes, chunk_bytes: int = 64 * 1024) -> None:
        """Send a release's archive over MQTT itself, in chunks (QoS 1, not retained: the device must be online),
        for devices that cannot reach a file or web server."""
        count = max(1, -(-len(archive) // chunk_bytes))
        for index in range(count):
            chunk = fleet_pb2.ModelRelease(release_id=release.release_id, model_version=release.model_version, sha256=release.sha256,
                                           signature=release.signature, health_window_s=release.health_window_s, chunk_index=index,
                                           chunk_count=count, chunk=archive[index * chunk_bytes : (index + 1) * chunk_bytes])
            self.connection.client.publish(topics.topic(device_id, "models"), chunk.SerializeToString(), qos=1)

    def wait_for_acks(self, release_id: str, device_ids: list[str], timeout_s: float) -> dict[str, fleet_pb2.Ack]:
        """Acks of these devices for a release, waiting up to ``timeout_s`` for all of them."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                got = {d: a for d, a in self.acks.get(release_id, {}).items() if d in device_ids}
                left = deadline - time.monotonic()
                if len(got) == len(device_ids) or left <= 0:
                    return got
                self._lock.wait(left)

    def rollout(self, release: fleet_pb2.ModelRelease, device_ids: list[str], plan: RolloutPlan, *, previous_version: str,
                chunked: bytes | None = None, progress: Callable[[str], None] = lambda line: None) -> RolloutResult:
        """Release to the devices wave by wave (by URL, or with ``chunked`` = the archive, over MQTT itself); on the
        abort rule, stop and order every device that installed it back to ``previous_version`` (which devices keep on disk)."""
        waves = plan.waves(device_ids)
        outcomes: dict[str, str] = dict.fromkeys(device_ids, "NOT_REACHED")
        statuses: dict[str, int] = {}
        for number, wave in enumerate(waves):
            progress(f"wave {number + 1}/{len(waves)}: {len(wave)} device(s)")
            for device_id in wave:
                if chunked is None:
                    self.publish_release(device_id, release)
                else:
                    self.publish_release_chunked(device_id, release, chunked)
            acks = self.wait_for_acks(release.release_id, wave, plan.wave_timeout_s)
            for device_id in wave:
                ack = acks.get(device_id)
                statuses[device_id] = ack.status if ack else fleet_pb2.Ack.STATUS_UNSPECIFIED
                outcomes[device_id] = fleet_pb2.Ack.Status.Name(ack.status).removeprefix("STATUS_") if ack else "TIMEOUT"
            if plan.should_abort(statuses):
                reached = [d for wave_ in waves[: number + 1] for d in wave_]
                self._roll_back(release, reached, previous_version, outcomes)
                failed = sum(1 for d in statuses if outcomes[d] not in ("INSTALLED", "ROLLED_BACK_BY_MANAGER"))
                reason = f"{failed} of {len(statuses)} devices failed (limit {plan.max_failure_share:.0%}); halted after wave {number + 1}"
                progress(reason)
                return RolloutResult(release.release_id, True, outcomes, waves, reason)
        return RolloutResult(release.release_id, False, outcomes, waves)

    def _roll_back(self, release: fleet_pb2.ModelRelease, reached: list[str], previous_version: str, outcomes: dict[str, str]) -> None:
        back = fleet_pb2.ModelRelease(release_id=f"{release.release_id}-rollback", model_version=previous_version)
        installed = [d for d in reached if outcomes[d] == "INSTALLED"]
        for device_id in reached:  # the retained desired model of every reached device becomes the previous one
            self.publish_release(device_id, back)
        acks = self.wait_for_acks(back.release_id, installed, 30.0)
        for device_id in installed:
            if device_id in acks and acks[device_id].status == fleet_pb2.Ack.STATUS_INSTALLED:
                outcomes[device_id] = "ROLLED_BACK_BY_MANAGER"
