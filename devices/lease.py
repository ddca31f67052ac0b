"""One rollout leader among fleet managers: a retained lease on ``splitrank/v1/fleet/rollout-lease``.

MQTT has no compare-and-set, so a claim is decided by the broker's order: every manager subscribes to the
lease topic and sees the same sequence of claims. A manager claims only when the lease it sees is free or
expired, then waits for its own claim to come back and a settle time; it holds the lease if its claim is
still the last one. Two managers that claim together both see the same last claim, so exactly one leads.
The holder renews the lease; a dead holder's lease expires (MQTT 5 message expiry at the broker, and the
``expires_at_s`` in it for brokers without). Expiry compares wall clocks: managers need synchronised clocks
(NTP), within a margin well under the lease.
"""

from __future__ import annotations

import secrets
import threading
import time

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices import topics
from devices.mqtt import MqttConnection
from protos.v1 import fleet_pb2


class LeaseHeld(RuntimeError):
    """Another manager holds the rollout lease (or took it over): this one must not release models."""


class RolloutLease:
    """The rollout lease as seen by one manager; feed it the lease topic's messages with ``on_message``."""

    def __init__(self, connection: MqttConnection, holder: str, *, lease_s: float = 30.0, settle_s: float = 0.5) -> None:
        self.connection = connection
        self.holder = holder
        self.lease_s = lease_s
        self.settle_s = settle_s
        self._current: fleet_pb2.RolloutLease | None = None
        self._seen_tokens: set[str] = set()
        self._token = ""
        self._changed = threading.Condition()
        self._stop_renewing = threading.Event()

    def on_message(self, payload: bytes) -> None:
        """A message on the lease topic: a claim, a renewal, a release (empty) or a sync probe (no holder)."""
        lease = fleet_pb2.RolloutLease.FromString(payload) if payload else None
        with self._changed:
            if lease is None or lease.holder:
                self._current = lease
            if lease is not None:
                self._seen_tokens.add(lease.token)
            self._changed.notify_all()

    @property
    def held(self) -> bool:
        """Whether this manager's claim is the lease in force."""
        with self._changed:
            return bool(self._token) and self._current is not None and self._current.token == self._token

    def current(self) -> fleet_pb2.RolloutLease | None:
        """The lease in force (None when free or expired)."""
        with self._changed:
            lease = self._current
        return lease if lease is not None and lease.expires_at_s > time.time() else None

    def acquire(self, release_id: str, timeout_s: float = 10.0) -> None:
        """Become the rollout leader or raise ``LeaseHeld``; the lease is renewed until ``release()``."""
        self._publish_and_wait(fleet_pb2.RolloutLease(token=secrets.token_hex(8)), retain=False, timeout_s=timeout_s)  # sync: the retained lease is in
        held = self.current()
        if held is not None and held.holder != self.holder:
            raise LeaseHeld(f"manager {held.holder} holds the rollout lease ({held.release_id}) for {held.expires_at_s - time.time():.0f} s more")
        self._token = secrets.token_hex(8)
        self._publish_and_wait(self._claim(release_id), retain=True, timeout_s=timeout_s)
        time.sleep(self.settle_s)
        if not self.held:
            other = self.current()
            self._token = ""
            raise LeaseHeld(f"manager {other.holder if other else '?'} claimed the rollout lease at the same time and won")
        self._stop_renewing.clear()
        threading.Thread(target=self._renew, args=(release_id,), daemon=True, name="rollout-lease").start()

    def release(self) -> None:
        """Give the lease up (clears the retained lease when it is still ours)."""
        self._stop_renewing.set()
        if self.held:
            self.connection.client.publish(topics.ROLLOUT_LEASE, b"", qos=1, retain=True).wait_for_publish(10)
        self._token = ""

    def _claim(self, release_id: str) -> fleet_pb2.RolloutLease:
        return fleet_pb2.RolloutLease(holder=self.holder, token=self._token, expires_at_s=time.time() + self.lease_s, release_id=release_id)

    def _expiry(self) -> Properties | None:
        """MQTT 5: the broker drops the retained lease by itself when its holder stops renewing."""
        if not self.connection.v5:
            return None
        properties = Properties(PacketTypes.PUBLISH)
        properties.MessageExpiryInterval = max(1, round(self.lease_s))
        return properties

    def _publish_and_wait(self, lease: fleet_pb2.RolloutLease, *, retain: bool, timeout_s: float) -> None:
        self.connection.client.publish(topics.ROLLOUT_LEASE, lease.SerializeToString(), qos=1, retain=retain,
                                       properties=self._expiry() if retain else None)
        with self._changed:
            if not self._changed.wait_for(lambda: lease.token in self._seen_tokens, timeout_s):
                raise LeaseHeld(f"the broker did not echo the rollout lease within {timeout_s:.0f} s: is the manager subscribed?")

    def _renew(self, release_id: str) -> None:
        while not self._stop_renewing.wait(self.lease_s / 3) and self.held:
            self.connection.client.publish(topics.ROLLOUT_LEASE, self._claim(release_id).SerializeToString(), qos=1, retain=True,
                                           properties=self._expiry())
