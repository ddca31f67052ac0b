"""Telemetry ingest shared by the fleet managers of a group, exact across a manager's death.

The managers of a group share ``$share/{group}/splitrank/v1/devices/+/telemetry`` (MQTT 5 shared
subscription: the broker hands each message to one of them). What mosquitto 2.0 does when a member dies,
measured: with a clean session (expiry 0) its unacknowledged QoS 1 messages are dropped, not handed to the
other members; with a persistent session they stay queued in the dead session, which keeps being handed its
share of new messages until it expires. So the managers keep persistent sessions, and a live peer takes over
a dead manager's session (connects with its client id, which makes the broker redeliver everything
unacknowledged), drains it and ends it.

Counting is made exact by acknowledging late: a manager counts telemetry into an ``IngestCheckpoint``
(QoS 1 on ``splitrank/v1/managers/{id}/ingest``) and acknowledges those telemetry messages to the broker only
once the broker has the checkpoint. Every manager subscribes to every checkpoint, so the checkpoints are the
group's shared deduplication state and its fleet-wide totals: a message redelivered from a dead manager's
session was either in a checkpoint the broker took (every peer has seen it: skipped) or in none (counted now).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from devices import topics
from devices.mqtt import BrokerAddress, MqttConnection
from protos.v1 import fleet_pb2

log = logging.getLogger("splitrank.fleet")
TELEMETRY_FIELDS = ("device_id", "seq", "unix_time_s", "requests_local", "requests_split", "requests_cloud", "degraded", "errors",
                    "cloud_bytes_up", "cloud_bytes_down", "energy_joules", "model_version", "sent_at_s", "dropped_before", "malformed_received")


@dataclass(frozen=True)
class _Accepted:
    """A telemetry message counted into the next checkpoint, and how to acknowledge it once that is at the broker."""

    message: fleet_pb2.Telemetry
    lag_s: float
    client: mqtt.Client
    mid: int


class CheckpointWriter:
    """Collects accepted telemetry, publishes it as one checkpoint every ``max_messages`` or ``interval_s``,
    and acknowledges the telemetry once the broker has acknowledged the checkpoint."""

    def __init__(self, connection: MqttConnection, manager_id: str, *, max_messages: int = 64, interval_s: float = 0.05) -> None:
        self.connection = connection
        self.manager_id = manager_id
        self.max_messages = max_messages
        self.interval_s = interval_s
        self._pending: list[_Accepted] = []
        self._published: queue.Queue[tuple[mqtt.MQTTMessageInfo, list[_Accepted]]] = queue.Queue()
        self._unacknowledged: list[_Accepted] = []
        self._number = 0
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._tick, daemon=True, name=f"checkpoints-{manager_id}"),
                         threading.Thread(target=self._acknowledge, daemon=True, name=f"acks-{manager_id}")]

    def start(self) -> None:
        """Publish the pending checkpoint every ``interval_s`` from now on."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop (what is not acknowledged yet stays with the broker, which redelivers it)."""
        self._stop.set()

    def add(self, message: fleet_pb2.Telemetry, lag_s: float, client: mqtt.Client, mid: int) -> None:
        """Count one message in the next checkpoint; its acknowledgement waits for that checkpoint."""
        accepted = _Accepted(message, lag_s, client, mid)
        with self._lock:
            self._pending.append(accepted)
            self._unacknowledged.append(accepted)
            full = len(self._pending) >= self.max_messages
        if full:
            self.flush()

    def flush(self) -> None:
        """Publish what is pending as one checkpoint (QoS 1); called with no lock of paho's or ours held."""
        with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            self._number += 1
            checkpoint = fleet_pb2.IngestCheckpoint(manager_id=self.manager_id, number=self._number, lag_s=[a.lag_s for a in batch])
            for accepted in batch:
                counted = checkpoint.counted.add()
                for name in TELEMETRY_FIELDS:
                    setattr(counted, name, getattr(accepted.message, name))
            # Published under our lock so checkpoints leave in order; paho never calls back into this lock.
            info = self.connection.client.publish(topics.manager_topic(self.manager_id, "ingest"), checkpoint.SerializeToString(), qos=1)
        self._published.put((info, batch))

    def outstanding(self, client: mqtt.Client | None = None) -> int:
        """Accepted messages not acknowledged yet (of one connection, or of all)."""
        with self._lock:
            return sum(1 for a in self._unacknowledged if client is None or a.client is client)

    def wait_idle(self, client: mqtt.Client | None, timeout_s: float) -> bool:
        """Flush and wait until every accepted message (of ``client``) is acknowledged."""
        self.flush()
        with self._lock:
            return self._lock.wait_for(lambda: not any(client is None or a.client is client for a in self._unacknowledged), timeout_s)

    def _acknowledge(self) -> None:
        while not self._stop.is_set():
            try:
                info, batch = self._published.get(timeout=0.2)
            except queue.Empty:
                continue
            while not self._stop.is_set() and not info.is_published():
                try:
                    info.wait_for_publish(0.2)
                except RuntimeError:  # published while disconnected: paho sends it on reconnect
                    time.sleep(0.01)
            if self._stop.is_set():
                return
            for accepted in batch:
                accepted.client.ack(accepted.mid, 1)
            with self._lock:
                done = {id(a) for a in batch}
                self._unacknowledged = [a for a in self._unacknowledged if id(a) not in done]
                self._lock.notify_all()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()


def drain(connection: MqttConnection, session_owner: str, group: str, writer: CheckpointWriter, markers: dict[str, threading.Event],
          timeout_s: float = 30.0) -> bool:
    """Empty the session of ``connection`` (the manager ``session_owner``'s) of telemetry; the caller then ends it.

    Unsubscribing stops new shares; then a marker goes through the session's own drain topic, behind
    everything already queued for it; once it is back and every message before it is counted and
    acknowledged, the session ends. ``markers`` is where the caller's ``on_message`` finds the marker's event.
    """
    token = secrets.token_hex(8)
    arrived = markers.setdefault(token, threading.Event())
    unsubscribed = threading.Event()
    connection.client.on_unsubscribe = lambda *args: unsubscribed.set()
    connection.client.unsubscribe(topics.shared(group, topics.all_devices("telemetry")))
    ok = unsubscribed.wait(timeout_s)
    connection.client.publish(topics.manager_topic(session_owner, "drain"), token.encode(), qos=1)
    ok = ok and arrived.wait(timeout_s) and writer.wait_idle(connection.client, timeout_s)
    markers.pop(token, None)
    return ok


class SessionTakeover:
    """A live manager resuming a dead peer's MQTT session to count what the broker kept for it, then ending it."""

    def __init__(self, broker: BrokerAddress, dead: fleet_pb2.ManagerPresence, writer: CheckpointWriter,
                 accept: Callable[[mqtt.Client, Any], None]) -> None:
        self.dead = dead
        self.writer = writer
        self.accept = accept
        self.markers: dict[str, threading.Event] = {}
        will = fleet_pb2.ManagerPresence(manager_id=dead.manager_id, group=dead.group, client_id=dead.client_id, online=False)
        # If this manager dies during the takeover, the dead one's will fires again and another peer retries.
        self.connection = MqttConnection(broker, dead.client_id, persistent=True, manual_ack=True,
                                         will=(topics.manager_topic(dead.manager_id, "presence"), will.SerializeToString()))
        self.connection.client.on_message = self._on_message

    def run(self, timeout_s: float = 30.0) -> bool:
        """Resume, drain and end the dead manager's session; True when everything it held is counted."""
        if not self.connection.start(timeout_s):
            self.connection.client.loop_stop()
            return False
        ok = drain(self.connection, self.dead.manager_id, self.dead.group, self.writer, self.markers, timeout_s)
        self.connection.stop(end_session=True)
        log.info("took over manager %s's session: %s", self.dead.manager_id, "drained" if ok else "incomplete")
        return ok

    def _on_message(self, client: mqtt.Client, userdata: object, message: Any) -> None:
        if topics.parse(message.topic) is not None:
            self.accept(client, message)
            return
        parsed = topics.parse_manager(message.topic)
        if parsed is not None and parsed[1] == "drain" and (event := self.markers.get(message.payload.decode(errors="replace"))):
            event.set()
        client.ack(message.mid, message.qos)
