"""The freshness push over MQTT: the cloud's popularity prior, signed, versioned and retained on
``splitrank/v1/fleet/prior`` for every device.

The operator side (``PriorChannel``) numbers each prior, encodes it as int8 or as a delta against
the previous push when that is smaller (a full prior at least every ``full_every`` pushes, so a device
that lost its session catches up), and signs the sha256 of the encoded update with the fleet's release
key (``devices/release.py``). The device side (``open_push``) refuses anything unsigned, truncated or
tampered with before it is decoded; what is left to check (order, catalogue) is ``core.prior``'s job.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from google.protobuf.message import DecodeError

from core.prior import DELTA, Prior, PriorRefused, encode_update, quantize
from devices.release import signature_problem
from protos.v1 import fleet_pb2

PRIOR_TOPIC = "splitrank/v1/fleet/prior"
"""Retained, QoS 1: the newest prior push; published by the manager, read by every device."""


def sign_update(update: fleet_pb2.PriorUpdate, key: Ed25519PrivateKey) -> fleet_pb2.PriorPush:
    """The push that carries ``update``: its bytes, their sha256 and an Ed25519 signature over the sha256."""
    body = update.SerializeToString()
    digest = hashlib.sha256(body).digest()
    return fleet_pb2.PriorPush(update=body, sha256=digest, signature=key.sign(digest))


def open_push(payload: bytes, public_key: Ed25519PublicKey | None) -> fleet_pb2.PriorUpdate:
    """The verified update of a push; raises PriorRefused when it is unsigned, truncated or tampered with."""
    if public_key is None:
        raise PriorRefused("this device has no release key: it accepts no prior pushes")
    try:
        push = fleet_pb2.PriorPush.FromString(payload)
    except DecodeError as err:
        raise PriorRefused(f"truncated or malformed push ({err})") from None
    problem = signature_problem(push.update, push.sha256, push.signature, public_key, "prior push")
    if problem is not None:
        raise PriorRefused(problem)
    try:
        return fleet_pb2.PriorUpdate.FromString(push.update)
    except DecodeError as err:  # signed garbage: only a broken publisher makes this
        raise PriorRefused(f"malformed update ({err})") from None


class PriorChannel:
    """The operator's side: turns each new prior into the next signed push."""

    def __init__(self, key: Ed25519PrivateKey, *, full_every: int = 7, last_version: int = 0) -> None:
        self.key = key
        self.full_every = full_every
        self.version = last_version
        self.previous: Prior | None = None
        self._since_full = 0

    def push(self, values: np.ndarray, day_unix_s: int) -> tuple[fleet_pb2.PriorPush, fleet_pb2.PriorUpdate]:
        """The signed push of the prior ``values`` for ``day_unix_s`` (00:00 UTC), and the update it carries."""
        self.version += 1
        prior = quantize(values, version=self.version, day_unix_s=day_unix_s)
        base = self.previous if self._since_full + 1 < self.full_every else None
        update = encode_update(prior, base, published_unix_s=int(time.time()))
        self._since_full = self._since_full + 1 if update.encoding == DELTA else 0
        self.previous = prior
        return sign_update(update, self.key), update
