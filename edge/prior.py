"""The popularity prior a device feeds its edge model: the bundle's own (of the model's release day)
until the fleet pushes a fresher one, then the newest verified push. Swapped whole, live: the next
request sees the new prior, with no model reload.

The agent asks ``current()`` once per request and passes the same prior to the edge step and to the
split call (so the cloud's reranker knows what the device's scores already hold).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from core.prior import DAY_S, Prior, apply_update, quantize
from protos.v1 import fleet_pb2

log = logging.getLogger("splitrank.edge.prior")


def bundle_prior(bundle: Path, release_unix_s: int) -> Prior:
    """The prior a bundle ships with (``edge/prior.npy``), as version 0, quantized like a push."""
    day = int(release_unix_s) // DAY_S * DAY_S
    return quantize(np.load(Path(bundle) / "edge" / "prior.npy"), version=0, day_unix_s=day)


class PriorState:
    """The device's current prior; pushes are checked for order and applied atomically. Thread-safe."""

    def __init__(self, initial: Prior) -> None:
        self._current = initial
        self._lock = threading.Lock()

    def current(self) -> Prior:
        """The prior to feed the model now."""
        return self._current

    def for_model(self, shipped: Prior) -> Prior:
        """The prior to feed a model that shipped with ``shipped``: the current one, unless a model swap is under
        way and the current one is for another catalogue size."""
        current = self._current
        return current if current.quantized.size == shipped.quantized.size else shipped

    def apply(self, update: fleet_pb2.PriorUpdate) -> bool:
        """Apply a verified update; False when it is the prior in use already. Raises PriorRefused when it is
        older, out of order, for another catalogue or corrupt: the prior in use stays."""
        with self._lock:
            new = apply_update(update, self._current)
            if new is None:
                return False
            self._current = new
        log.info("prior version %d (day %d) in use", new.version, new.day_unix_s // DAY_S)
        return True

    def rebase(self, shipped: Prior, *, same_catalogue: bool) -> None:
        """A new model came with ``shipped``: keep the pushed prior if the catalogue is the same and it is newer."""
        with self._lock:
            if not same_catalogue or self._current.day_unix_s < shipped.day_unix_s:
                self._current = shipped
