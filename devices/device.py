"""The device side of the fleet, running inside the edge agent: retained state with a last will,
telemetry through the on-disk outbox, live config, the freshness push (a signed popularity prior,
applied live), and model releases verified, staged, swapped atomically, watched for a health window
and rolled back by the device itself when they regress.

Desired state (``config`` and ``models``) is retained at the broker, so a device that was offline
catches up the moment it reconnects: the device shadow without a shadow service.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.message import DecodeError

from core.bundle import BundleError
from core.prior import Prior, PriorRefused
from devices import topics
from devices.freshness import PRIOR_TOPIC, open_push
from devices.model_slots import ModelSlots
from devices.mqtt import BrokerAddress, MqttConnection
from devices.outbox import Outbox
from devices.release import ReleaseRejected, verify_archive
from protos.v1 import fleet_pb2

log = logging.getLogger("splitrank.device")
MAX_CHUNKS = 4096
"""Largest chunked release a device assembles (with 64 KiB chunks: 256 MiB)."""


@dataclass(frozen=True)
class Health:
    """A model's behaviour on the device's probe requests."""

    errors: int
    p50_us: float


class DeviceRuntime(Protocol):
    """What the fleet client needs from the agent it runs in."""

    def model_version(self) -> str: ...
    def policy(self) -> str: ...
    def apply_config(self, config: fleet_pb2.DeviceConfig) -> None: ...
    def swap_model(self, bundle: Path) -> None: ...
    def probe(self) -> Health: ...
    def counters(self) -> dict[str, float]: ...
    def prior(self) -> Prior: ...
    def apply_prior(self, update: fleet_pb2.PriorUpdate) -> bool: ...


@dataclass(frozen=True)
class DeviceSettings:
    """Identity, broker and local state of one device."""

    device_id: str
    broker: BrokerAddress
    state_dir: Path
    public_key: Ed25519PublicKey | None = None
    profile: str = ""
    telemetry_interval_s: float = 1.0
    latency_regression: float = 3.0
    """Roll back when the new model's probe p50 exceeds this many times the previous model's."""
    max_outbox: int = 10_000
    clock: Callable[[], float] = time.time
    """The device's wall clock: the times in its state and telemetry, the age of its prior (a simulated one in the
    demo's replay, a stepped one in the chaos bench)."""


class FleetDevice:
    """Connects, reports, listens; call ``start()`` once the agent's model is loaded."""

    def __init__(self, settings: DeviceSettings, runtime: DeviceRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.device_id = topics.check_device_id(settings.device_id)
        self.slots = ModelSlots(settings.state_dir / "models")
        self.outbox = Outbox(settings.state_dir / "outbox", max_messages=settings.max_outbox)
        self._failed_file = settings.state_dir / "failed_releases.json"
        self.failed_releases: set[str] = set(json.loads(self._failed_file.read_text())) if self._failed_file.is_file() else set()
        self.config_revision = 0
        self.prior_refused = 0
        """Prior pushes refused so far (the prior in use stays); ``prior_refused_reason`` says why the last one was."""
        self.prior_refused_reason = ""
        self._reported_refusals = 0
        self.malformed_received = 0
        """Config and model messages that did not parse (logged, acknowledged, dropped; reported in telemetry)."""
        offline = fleet_pb2.DeviceState(device_id=self.device_id, online=False, profile=settings.profile)
        self.connection = MqttConnection(settings.broker, f"device-{self.device_id}", will=(self._topic("state"), offline.SerializeToString()))
        self.connection.on_connected = self._on_connected
        self.connection.client.on_message = self._on_message
        self.connection.client.on_publish = self._on_publish
        self._in_flight: dict[int, int] = {}  # MQTT message id -> telemetry seq
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"device-{self.device_id}")
        self._stop = threading.Event()
        self._telemetry_thread = threading.Thread(target=self._telemetry_loop, daemon=True)
        self._last_counters: dict[str, float] = {}
        self._chunks: dict[str, dict[int, bytes]] = {}

    def _topic(self, kind: str) -> str:
        return topics.topic(self.device_id, kind)

    def start(self, wait_s: float = 10.0) -> None:
        """Connect (in the background, reconnecting forever) and start telemetry."""
        self._last_counters = self.runtime.counters()
        self.connection.start(wait_s)
        self._telemetry_thread.start()

    def stop(self) -> None:
        """Publish offline state, disconnect, stop threads (pending telemetry stays in the outbox)."""
        self._stop.set()
        if self.connection.connected.is_set():
            state = self._state(online=False)
            self.connection.client.publish(self._topic("state"), state.SerializeToString(), qos=1, retain=True).wait_for_publish(2)
        self.connection.stop()
        self._worker.shutdown(wait=True, cancel_futures=True)

    # --- connection -----------------------------------------------------------------------------
    def _on_connected(self) -> None:
        client = self.connection.client
        client.subscribe([(self._topic("config"), 1), (self._topic("models"), 1), (PRIOR_TOPIC, 1)])
        self.publish_state()
        with self._lock:
            self._in_flight.clear()
        self._flush_outbox()

    def _state(self, *, online: bool) -> fleet_pb2.DeviceState:
        prior = self.runtime.prior()
        return fleet_pb2.DeviceState(device_id=self.device_id, online=online, model_version=self.runtime.model_version(),
                                     profile=self.settings.profile, policy=self.runtime.policy(), unix_time_s=int(self.settings.clock()),
                                     config_revision=self.config_revision, prior_version=prior.version, prior_day_unix_s=prior.day_unix_s,
                                     prior_refused_reason=self.prior_refused_reason)

    def publish_state(self) -> None:
        """Retained state: online, model, policy, applied config revision, the prior in use and the last refused push."""
        self.connection.client.publish(self._topic("state"), self._state(online=True).SerializeToString(), qos=1, retain=True)

    def _on_message(self, client: object, userdata: object, message: object) -> None:
        payload = bytes(message.payload)  # type: ignore[attr-defined]
        if message.topic == PRIOR_TOPIC:  # type: ignore[attr-defined]
            self._submit(self._apply_prior, payload)
            return
        kind = topics.parse(message.topic)  # type: ignore[attr-defined]
        if kind is None or kind[1] not in ("config", "models") or not payload:
            return
        try:
            parsed = (fleet_pb2.DeviceConfig if kind[1] == "config" else fleet_pb2.ModelRelease).FromString(payload)
        except DecodeError as err:  # acknowledged all the same (an exception here would stop paho's network thread)
            self.malformed_received += 1
            log.warning("device %s dropped a malformed %s message (%d bytes, %d so far): %s", self.device_id, kind[1], len(payload),
                        self.malformed_received, err)
            return
        if isinstance(parsed, fleet_pb2.DeviceConfig):
            self._submit(self._apply_config, parsed)
        else:
            release = parsed
            if not release.chunk_count:
                self._submit(self._install, release, None)
            elif (archive := self._add_chunk(release)) is not None:
                self._submit(self._install, release, archive)

    def _submit(self, work: Callable[..., None], *args: object) -> None:
        """Run on the device's worker thread; an exception there is logged, never lost with its future."""
        def report(future: Future[None]) -> None:
            if not future.cancelled() and (err := future.exception()) is not None:
                log.error("device %s: %s failed: %s: %s", self.device_id, work.__name__, type(err).__name__, err)

        self._worker.submit(work, *args).add_done_callback(report)

    def _add_chunk(self, release: fleet_pb2.ModelRelease) -> bytes | None:
        """Collect a chunked release (network thread); the archive once every chunk is in, else None."""
        if release.chunk_count > MAX_CHUNKS or release.chunk_index >= release.chunk_count:
            return None
        chunks = self._chunks.setdefault(release.release_id, {})
        chunks[release.chunk_index] = bytes(release.chunk)
        if len(chunks) < release.chunk_count:
            return None
        del self._chunks[release.release_id]
        return b"".join(chunks[i] for i in range(release.chunk_count))

    # --- telemetry ------------------------------------------------------------------------------
    def _telemetry_loop(self) -> None:
        while not self._stop.wait(self.settings.telemetry_interval_s):
            try:
                self.send_telemetry()
            except Exception:  # one failed message must not end telemetry for the device's lifetime
                log.exception("device %s: telemetry failed; trying again in %.0f s", self.device_id, self.settings.telemetry_interval_s)

    def send_telemetry(self) -> int:
        """Write one telemetry message to the outbox and publish what is pending; returns its seq."""
        now = self.runtime.counters()
        delta = {key: now.get(key, 0.0) - self._last_counters.get(key, 0.0) for key in now}
        self._last_counters = now
        seq = self.outbox.next_seq()
        wall = self.settings.clock()
        prior, refused = self.runtime.prior(), self.prior_refused - self._reported_refusals
        self._reported_refusals = self.prior_refused
        message = fleet_pb2.Telemetry(
            prior_version=prior.version, prior_day_unix_s=prior.day_unix_s, prior_age_days=prior.age_days(wall),
            prior_refused=refused, prior_refused_reason=self.prior_refused_reason if refused else "",
            device_id=self.device_id, seq=seq, unix_time_s=int(wall), sent_at_s=wall, model_version=self.runtime.model_version(),
            requests_local=int(delta.get("local", 0)), requests_split=int(delta.get("split", 0)), requests_cloud=int(delta.get("cloud", 0)),
            degraded=int(delta.get("degraded", 0)), errors=int(delta.get("errors", 0)), cloud_bytes_up=int(delta.get("bytes_up", 0)),
            cloud_bytes_down=int(delta.get("bytes_down", 0)), energy_joules=delta.get("energy_joules", 0.0), dropped_before=self.outbox.dropped,
            malformed_received=self.malformed_received)
        self.outbox.put(seq, message.SerializeToString())
        self._flush_outbox()
        return seq

    def _flush_outbox(self) -> None:
        if not self.connection.connected.is_set():
            return
        with self._lock:
            waiting = set(self._in_flight.values())
        for seq, payload in self.outbox.pending():
            if seq in waiting:
                continue
            info = self.connection.client.publish(self._topic("telemetry"), payload, qos=1)
            with self._lock:
                self._in_flight[info.mid] = seq

    def _on_publish(self, client: object, userdata: object, mid: int, reason: object, properties: object) -> None:
        with self._lock:
            seq = self._in_flight.pop(mid, None)
        if seq is not None and not getattr(reason, "is_failure", False):
            self.outbox.remove(seq)

    # --- config ---------------------------------------------------------------------------------
    def _apply_config(self, config: fleet_pb2.DeviceConfig) -> None:
        if config.revision <= self.config_revision:
            return
        try:
            self.runtime.apply_config(config)
            if config.pinned_model_version and config.pinned_model_version != self.runtime.model_version():
                self._activate_local(config.pinned_model_version)
        except (ValueError, BundleError) as err:
            log.error("device %s refused config revision %d: %s", self.device_id, config.revision, err)
            return
        self.config_revision = config.revision
        self.publish_state()

    # --- freshness push -------------------------------------------------------------------------
    def _apply_prior(self, payload: bytes) -> None:
        """Verify and apply a prior push live; refuse it (and say why in the log, telemetry and state) when it is
        unsigned, tampered with, truncated, older than the prior in use or out of order."""
        if not payload:  # the retained push was cleared
            return
        try:
            applied = self.runtime.apply_prior(open_push(payload, self.settings.public_key))
        except PriorRefused as err:
            self.prior_refused += 1
            self.prior_refused_reason = str(err)
            log.warning("device %s refused a prior push, keeping version %d: %s", self.device_id, self.runtime.prior().version, err)
        else:
            if not applied:
                return
        self.publish_state()

    # --- model releases ---------------------------------------------------------------------------
    def _ack(self, release: fleet_pb2.ModelRelease, status: int, reason: str = "") -> None:
        ack = fleet_pb2.Ack(device_id=self.device_id, release_id=release.release_id, status=status,  # type: ignore[arg-type]
                            model_version=self.runtime.model_version(), reason=reason)
        self.connection.client.publish(self._topic("ack"), ack.SerializeToString(), qos=1)
        self.publish_state()

    def _remember_failed(self, release_id: str) -> None:
        """Never try this release again, across restarts."""
        self.failed_releases.add(release_id)
        self._failed_file.write_text(json.dumps(sorted(self.failed_releases)))

    def _reject(self, release: fleet_pb2.ModelRelease, reason: str) -> None:
        self._remember_failed(release.release_id)
        log.error("device %s rejected release %s: %s", self.device_id, release.release_id, reason)
        self._ack(release, fleet_pb2.Ack.STATUS_REJECTED, reason)

    def _fetch(self, release: fleet_pb2.ModelRelease) -> bytes:
        if not release.url.startswith(("file://", "https://", "http://")):
            raise ReleaseRejected(f"release URL {release.url!r} is not file://, http:// or https://")
        with urllib.request.urlopen(release.url, timeout=30) as response:
            return response.read()

    def _activate_local(self, version: str) -> None:
        if not self.slots.has(version):
            raise BundleError(f"model version {version} is not installed on this device")
        self.runtime.swap_model(self.slots.activate(version))

    def _install(self, release: fleet_pb2.ModelRelease, chunked: bytes | None) -> None:
        """Install a release: from its URL, or from the chunks that carried it (``chunked``)."""
        if release.release_id in self.failed_releases or release.model_version == self.runtime.model_version():
            return
        if not release.url and not release.chunk_count:  # a rollback order: serve a version already on the device
            try:
                self._activate_local(release.model_version)
            except (BundleError, ValueError, RuntimeError) as err:
                self._reject(release, str(err))
                return
            self._ack(release, fleet_pb2.Ack.STATUS_INSTALLED, "activated a local version")
            return
        try:
            if self.settings.public_key is None:
                raise ReleaseRejected("this device has no release key: it accepts no releases")
            archive = chunked if chunked is not None else self._fetch(release)
            verify_archive(archive, release, self.settings.public_key)
            self.slots.install(archive, release.model_version)
        except (ReleaseRejected, BundleError, OSError, ValueError) as err:
            self._reject(release, str(err))
            return
        baseline = self.runtime.probe()
        try:
            self.runtime.swap_model(self.slots.activate(release.model_version))
            health = self.runtime.probe()
            errors_before = self.runtime.counters().get("errors", 0.0)
            if self._stop.wait(release.health_window_s):
                return
            live_errors = self.runtime.counters().get("errors", 0.0) - errors_before
        except Exception as err:  # noqa: BLE001 - any failure of the new model is a regression to roll back from
            health, live_errors = Health(errors=1, p50_us=float("inf")), 0.0
            log.error("device %s: model %s failed: %s", self.device_id, release.model_version, err)
        regressed = health.errors > 0 or live_errors > 0 or health.p50_us > self.settings.latency_regression * max(baseline.p50_us, 1.0)
        if regressed:
            self.runtime.swap_model(self.slots.rollback())
            self._remember_failed(release.release_id)
            reason = f"health regressed: {health.errors} probe errors, {live_errors:.0f} live errors, p50 {health.p50_us:.0f} us vs {baseline.p50_us:.0f} us"
            self._ack(release, fleet_pb2.Ack.STATUS_ROLLED_BACK, reason)
            return
        self._ack(release, fleet_pb2.Ack.STATUS_INSTALLED)
