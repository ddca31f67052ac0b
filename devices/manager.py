"""The fleet manager: a registry built from retained device state, telemetry aggregated and checked
for losses (sequence numbers), desired config per device (retained: the device shadow), and staged
model rollouts with automatic halt and rollback, led by one manager at a time (``devices/lease.py``), and the
freshness push (the newest prior, retained) with each device's prior age and a warning for stale ones.

Several managers of one ``group`` share the telemetry ingest (``devices/ingest.py``): each counts its share
into checkpoints that every member (and any observer) applies, so each holds the fleet-wide totals."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.prior import DAY_S
from devices import topics
from devices.freshness import PRIOR_TOPIC
from devices.ingest import CheckpointWriter, SessionTakeover, drain
from devices.lease import LeaseHeld, RolloutLease
from devices.mqtt import BrokerAddress, MqttConnection
from devices.rollout import RolloutPlan
from protos.v1 import fleet_pb2

log = logging.getLogger("splitrank.fleet")
LAG_WINDOW = 100_000
"""Telemetry messages whose ingest lag the percentiles cover (the most recent ones): memory stays bounded."""


@dataclass
class DeviceRecord:
    """What the manager knows about one device."""

    state: fleet_pb2.DeviceState | None = None
    seqs: set[int] = field(default_factory=set)
    duplicates: int = 0
    counted_twice: int = 0
    totals: Counter[str] = field(default_factory=Counter)
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
    """Subscribes to every device's state, telemetry and acks; publishes config and releases.

    With ``group``, telemetry comes through the group's shared subscription and is counted through
    checkpoints (``ingest=False``: an observer that only applies the group's checkpoints); without it, this
    manager receives and counts all telemetry itself.
    """

    def __init__(self, broker: BrokerAddress, *, client_id: str = "splitrank-manager", group: str | None = None, ingest: bool = True,
                 stale_after_days: float = 2.0) -> None:
        self.manager_id = topics.check_device_id(client_id)
        self.group = topics.check_device_id(group) if group else None
        self.ingest = ingest
        member = self.group is not None and ingest
        will = (topics.manager_topic(client_id, "presence"), self._presence(online=False)) if member else None
        self.connection = MqttConnection(broker, client_id, manual_ack=True, will=will, persistent=self.group is None or ingest)
        self.connection.on_connected = self._subscribe
        self.connection.client.on_message = self._on_message
        self.devices: dict[str, DeviceRecord] = {}
        self.acks: dict[str, dict[str, fleet_pb2.Ack]] = {}
        self.lags_s: deque[float] = deque(maxlen=LAG_WINDOW)
        """Ingest lag (receive time - send time) of the last ``LAG_WINDOW`` telemetry messages."""
        self.received = 0
        self._lock = threading.Condition()
        self._revision = int(time.time() * 1000)
        self.stale_after_days = stale_after_days
        """A device whose prior is more days behind the fleet's newest than this is stale (warned about, flagged in status)."""
        self.newest_prior: fleet_pb2.PriorUpdate | None = None
        """The newest prior pushed to the fleet (from the retained push; its signature is the devices' to check)."""
        self._warned_stale: set[str] = set()
        self.lease = RolloutLease(self.connection, self.manager_id)
        self._writer = CheckpointWriter(self.connection, self.manager_id) if member else None
        self._claimed: set[tuple[str, int]] = set()
        self._peers: dict[str, fleet_pb2.ManagerPresence] = {}
        self._taking_over: set[str] = set()
        self._markers: dict[str, threading.Event] = {}

    def start(self, wait_s: float = 10.0) -> None:
        """Connect (persistent session: telemetry sent while the manager is away waits at the broker)."""
        if self._writer is not None:
            self._writer.start()
        if not self.connection.start(wait_s):
            raise ConnectionError(f"no MQTT broker answered at {self.connection.broker.host}:{self.connection.broker.port} "
                                  f"within {wait_s:.0f} s{': ' + self.connection.refused if self.connection.refused else ''}")

    def stop(self) -> None:
        """Disconnect; a group member first hands its share back (drains its session, counts what it held) and leaves."""
        if self._writer is None or self.group is None:
            self.connection.stop()
            return
        drain(self.connection, self.manager_id, self.group, self._writer, self._markers)
        self.connection.client.publish(topics.manager_topic(self.manager_id, "presence"), b"", qos=1, retain=True).wait_for_publish(5)
        self._writer.stop()
        self.connection.stop(end_session=True)

    def _presence(self, *, online: bool) -> bytes:
        return fleet_pb2.ManagerPresence(manager_id=self.manager_id, group=self.group or "", client_id=self.manager_id,
                                         online=online).SerializeToString()

    def _subscribe(self) -> None:
        wanted = [topics.all_devices("state"), topics.all_devices("ack"), topics.ROLLOUT_LEASE, PRIOR_TOPIC]
        if self.group is None:
            wanted.append(topics.all_devices("telemetry"))
        else:
            wanted.append(topics.all_managers("ingest"))
        if self._writer is not None and self.group is not None:
            wanted += [topics.all_managers("presence"), topics.manager_topic(self.manager_id, "drain"),
                       topics.shared(self.group, topics.all_devices("telemetry"))]
            self.connection.client.publish(topics.manager_topic(self.manager_id, "presence"), self._presence(online=True), qos=1, retain=True)
        self.connection.client.subscribe([(name, 1) for name in wanted])

    def _on_message(self, client: Any, userdata: object, message: Any) -> None:
        parsed = topics.parse(message.topic)
        if self._writer is not None and parsed is not None and parsed[1] == "telemetry":
            self._accept(client, message)  # acknowledged with its checkpoint
            return
        try:
            if message.topic == topics.ROLLOUT_LEASE:
                self.lease.on_message(message.payload)
            elif message.topic == PRIOR_TOPIC:
                self._note_prior(message.payload)
            elif (of_manager := topics.parse_manager(message.topic)) is not None:
                self._on_manager_message(*of_manager, message.payload)
            elif parsed is not None and message.payload:
                self._on_device_message(*parsed, message.payload)
        finally:
            client.ack(message.mid, message.qos)

    def _on_device_message(self, device_id: str, kind: str, payload: bytes) -> None:
        try:
            if kind == "state":
                record, state = self._record(device_id), fleet_pb2.DeviceState.FromString(payload)
                if record.state is not None and not state.online and not state.prior_day_unix_s:
                    # a last will, written at connect time, knows nothing of the prior: keep what the device said last
                    state.prior_version, state.prior_day_unix_s = record.state.prior_version, record.state.prior_day_unix_s
                record.state = state
                self._warn_if_stale(device_id)
            elif kind == "telemetry":
                self._ingest(device_id, fleet_pb2.Telemetry.FromString(payload))
            elif kind == "ack":
                ack = fleet_pb2.Ack.FromString(payload)
                with self._lock:
                    self.acks.setdefault(ack.release_id, {})[device_id] = ack
                    self._lock.notify_all()
        except Exception as err:  # noqa: BLE001 - a malformed message from one device must not stop the manager
            self._malformed(device_id, kind, payload, err)

    def _malformed(self, device_id: str, kind: str, payload: bytes, err: Exception) -> None:
        record = self._record(device_id)
        record.totals["malformed"] += 1
        log.warning("dropped a malformed %s message from %s (%d bytes, %d from it so far): %s", kind, device_id, len(payload),
                    record.totals["malformed"], err)

    def _on_manager_message(self, manager_id: str, kind: str, payload: bytes) -> None:
        try:
            self._handle_manager_message(manager_id, kind, payload)
        except Exception as err:  # noqa: BLE001 - nor a malformed one on a manager topic
            log.warning("dropped a malformed %s message of manager %s (%d bytes): %s", kind, manager_id, len(payload), err)

    def _handle_manager_message(self, manager_id: str, kind: str, payload: bytes) -> None:
        if kind == "ingest":
            checkpoint = fleet_pb2.IngestCheckpoint.FromString(payload)
            for counted, lag_s in zip(checkpoint.counted, checkpoint.lag_s, strict=True):
                self._count(counted.device_id, counted, lag_s)
        elif kind == "drain":
            if event := self._markers.get(payload.decode(errors="replace")):
                event.set()
        elif kind == "presence":
            self._on_presence(manager_id, payload)

    def _on_presence(self, manager_id: str, payload: bytes) -> None:
        """A peer that died (its will) is taken over by the live member of the group with the smallest id."""
        with self._lock:
            if not payload:
                self._peers.pop(manager_id, None)
                return
            presence = self._peers[manager_id] = fleet_pb2.ManagerPresence.FromString(payload)
            if presence.online or presence.group != self.group or manager_id == self.manager_id or manager_id in self._taking_over:
                return
            live = {self.manager_id} | {p.manager_id for p in self._peers.values() if p.online and p.group == self.group}
            if min(live) != self.manager_id:
                return
            self._taking_over.add(manager_id)
        threading.Thread(target=self._take_over, args=(presence,), daemon=True, name=f"takeover-{manager_id}").start()

    def _take_over(self, dead: fleet_pb2.ManagerPresence) -> None:
        assert self._writer is not None
        if SessionTakeover(self.connection.broker, dead, self._writer, self._accept).run():
            self.connection.client.publish(topics.manager_topic(dead.manager_id, "presence"), b"", qos=1, retain=True)
        with self._lock:
            self._taking_over.discard(dead.manager_id)

    def _accept(self, client: Any, message: Any) -> None:
        """Group ingest: a telemetry message not counted anywhere yet goes into this manager's next checkpoint."""
        parsed = topics.parse(message.topic)
        assert parsed is not None and self._writer is not None
        device_id = parsed[0]
        try:
            telemetry = fleet_pb2.Telemetry.FromString(message.payload)
        except Exception as err:  # noqa: BLE001 - a malformed message from one device must not stop the manager
            self._malformed(device_id, "telemetry", message.payload, err)
            client.ack(message.mid, message.qos)
            return
        telemetry.device_id = device_id  # the topic names the sender (the ACL checks it), the payload might not
        record = self._record(device_id)
        with self._lock:
            duplicate = telemetry.seq in record.seqs or (device_id, telemetry.seq) in self._claimed
            if duplicate:
                record.duplicates += 1
            else:
                self._claimed.add((device_id, telemetry.seq))
        if duplicate:
            client.ack(message.mid, message.qos)
            return
        self._writer.add(telemetry, time.time() - telemetry.sent_at_s if telemetry.sent_at_s else 0.0, client, message.mid)

    def _record(self, device_id: str) -> DeviceRecord:
        with self._lock:
            return self.devices.setdefault(device_id, DeviceRecord())

    def _ingest(self, device_id: str, message: fleet_pb2.Telemetry) -> None:
        record = self._record(device_id)
        with self._lock:
            if message.seq in record.seqs:
                record.duplicates += 1
                return
        self._count(device_id, message, time.time() - message.sent_at_s if message.sent_at_s else None)

    def _count(self, device_id: str, message: fleet_pb2.Telemetry, lag_s: float | None) -> None:
        """Add one message to the totals (a message counted before is a duplicate count, kept apart)."""
        record = self._record(device_id)
        with self._lock:
            self._claimed.discard((device_id, message.seq))
            if message.seq in record.seqs:
                record.counted_twice += 1
                return
            record.seqs.add(message.seq)
            self.received += 1
            if lag_s is not None:
                self.lags_s.append(lag_s)
            record.malformed_at_device = max(record.malformed_at_device, message.malformed_received)
            for name in ("requests_local", "requests_split", "requests_cloud", "degraded", "errors", "cloud_bytes_up", "cloud_bytes_down"):
                record.totals[name] += getattr(message, name)
            record.totals["energy_joules"] += message.energy_joules
            record.totals["prior_refused"] += message.prior_refused

    def _note_prior(self, payload: bytes) -> None:
        try:
            update = fleet_pb2.PriorUpdate.FromString(fleet_pb2.PriorPush.FromString(payload).update)
        except Exception:  # noqa: BLE001 - a malformed retained push must not stop the manager; devices refuse it themselves
            return
        with self._lock:
            if self.newest_prior is None or update.version > self.newest_prior.version:
                self.newest_prior = update
            self._lock.notify_all()
        for device_id in list(self.devices):
            self._warn_if_stale(device_id)

    def prior_age_days(self, state: fleet_pb2.DeviceState | None) -> float | None:
        """Days a device's prior is behind the fleet's newest (None before any push is known or any state)."""
        if state is None or self.newest_prior is None:
            return None
        return max(self.newest_prior.day_unix_s - state.prior_day_unix_s, 0) / DAY_S

    def _warn_if_stale(self, device_id: str) -> None:
        age = self.prior_age_days(self.devices[device_id].state)
        if age is not None and age > self.stale_after_days:
            if device_id not in self._warned_stale:
                self._warned_stale.add(device_id)
                log.warning("device %s is stale: its popularity prior is %.0f days behind the fleet's newest", device_id, age)
        else:
            self._warned_stale.discard(device_id)

    def publish_prior(self, push: fleet_pb2.PriorPush) -> None:
        """The freshness push to every device (retained, QoS 1: a device that connects later gets the newest)."""
        self.connection.client.publish(PRIOR_TOPIC, push.SerializeToString(), qos=1, retain=True).wait_for_publish(10)

    def wait_for_prior(self, version: int, timeout_s: float) -> bool:
        """Wait until the broker echoed a push of at least ``version`` back (the manager reads its own retained topic)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self.newest_prior is None or self.newest_prior.version < version:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    # --- views --------------------------------------------------------------------------------------
    def status(self) -> list[dict[str, Any]]:
        """One row per known device."""
        rows = []
        with self._lock:
            for device_id, record in sorted(self.devices.items()):
                state = record.state
                age = self.prior_age_days(state)
                rows.append({"device_id": device_id, "online": bool(state and state.online), "model_version": state.model_version if state else "",
                             "policy": state.policy if state else "", "profile": state.profile if state else "",
                             "config_revision": state.config_revision if state else 0, "telemetry": len(record.seqs), "missing": record.missing,
                             "prior_version": state.prior_version if state else 0, "prior_age_days": age,
                             "stale": age is not None and age > self.stale_after_days,
                             "prior_refused_reason": state.prior_refused_reason if state else ""})
        return rows

    def telemetry_summary(self) -> dict[str, Any]:
        """Fleet totals, losses and the ingest lag of the last ``LAG_WINDOW`` messages."""
        with self._lock:
            totals: Counter[str] = Counter()
            for record in self.devices.values():
                totals.update(record.totals)
            lags = np.asarray(self.lags_s) if self.lags_s else np.zeros(1)
            return {"devices": len(self.devices), "received": self.received, "duplicates": sum(r.duplicates for r in self.devices.values()),
                    "duplicates_counted": sum(r.counted_twice for r in self.devices.values()),
                    "missing": sum(r.missing for r in self.devices.values()), "p50_lag_s": float(np.percentile(lags, 50)),
                    "p99_lag_s": float(np.percentile(lags, 99)), "malformed_at_devices": sum(r.malformed_at_device for r in self.devices.values()),
                    **{k: float(v) for k, v in totals.items()}}

    def uncounted(self, sent: Mapping[str, int]) -> int:
        """Messages never counted, given how many each device sent (sequence numbers 1..n)."""
        with self._lock:
            return sum(len(set(range(1, n + 1)) - (self.devices[d].seqs if d in self.devices else set())) for d, n in sent.items())

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
        abort rule, stop and order every device that installed it back to ``previous_version`` (which devices keep on disk).

        Only the holder of the rollout lease releases: ``LeaseHeld`` when another manager is rolling out."""
        self.lease.acquire(release.release_id)
        try:
            return self._rollout(release, device_ids, plan, previous_version=previous_version, chunked=chunked, progress=progress)
        finally:
            self.lease.release()

    def _rollout(self, release: fleet_pb2.ModelRelease, device_ids: list[str], plan: RolloutPlan, *, previous_version: str,
                 chunked: bytes | None, progress: Callable[[str], None]) -> RolloutResult:
        waves = plan.waves(device_ids)
        outcomes: dict[str, str] = dict.fromkeys(device_ids, "NOT_REACHED")
        statuses: dict[str, int] = {}
        for number, wave in enumerate(waves):
            if not self.lease.held:
                raise LeaseHeld(f"lost the rollout lease before wave {number + 1}; another manager took over")
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
