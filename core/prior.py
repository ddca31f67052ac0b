"""The popularity prior as the freshness push carries it: one int8 value per catalogue item with one
scale, sent whole or as a delta against the previous version, whichever is smaller.

The cloud quantizes and encodes (``quantize``, ``encode_update``); the device decodes and checks the
order of what it receives (``apply_update``). Signing and verifying the push is the fleet's job
(``devices/freshness.py``). Pure numpy and zlib: the same code on both sides.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from protos.v1 import fleet_pb2

QMAX = 127
FULL = fleet_pb2.PriorUpdate.ENCODING_INT8_ZLIB
DELTA = fleet_pb2.PriorUpdate.ENCODING_DELTA_INT8_ZLIB
DAY_S = 86400


class PriorRefused(ValueError):
    """A prior update the device will not apply; the message says why (it is reported in telemetry)."""


@dataclass(frozen=True)
class Prior:
    """A popularity prior the edge model is fed: int8 values with one scale, its version and its day."""

    quantized: np.ndarray  # int8 [N], item 0 is padding
    scale: float
    version: int  # 0 = the prior the model's bundle shipped with
    day_unix_s: int  # 00:00 UTC of the day it is for
    values: np.ndarray = field(init=False, repr=False, compare=False)  # float32 [N], what the model is fed

    def __post_init__(self) -> None:
        values = self.quantized.astype(np.float32) * np.float32(self.scale)
        values.flags.writeable = False  # the edge model feeds a prior to its interpreter once, by identity
        object.__setattr__(self, "values", values)

    def age_days(self, now_unix_s: float) -> float:
        """Days from the prior's day to ``now_unix_s`` (0 if the clock is behind it)."""
        return max(now_unix_s - self.day_unix_s, 0.0) / DAY_S


def quantize(values: np.ndarray, *, version: int, day_unix_s: int) -> Prior:
    """int8 with scale = max / 127 (priors are >= 0: the trend is a log count relative to the top item)."""
    x = np.asarray(values, np.float32).ravel()
    if not np.isfinite(x).all() or (x < 0).any():
        raise ValueError("a popularity prior must be finite and >= 0")
    scale = float(np.float32(max(float(x.max(initial=0.0)), 1e-6) / QMAX))
    return Prior(np.clip(np.rint(x / scale), 0, QMAX).astype(np.int8), scale, version, day_unix_s)


def encode_update(prior: Prior, previous: Prior | None = None, *, published_unix_s: int = 0) -> fleet_pb2.PriorUpdate:
    """The update that turns ``previous`` into ``prior``: a delta when that is smaller (same size and scale), else the full prior."""
    update = fleet_pb2.PriorUpdate(version=prior.version, day_unix_s=prior.day_unix_s, n_items=prior.quantized.size, scale=prior.scale,
                                   encoding=FULL, values=zlib.compress(prior.quantized.tobytes(), 9), published_unix_s=published_unix_s)
    if previous is not None and previous.quantized.size == prior.quantized.size and previous.scale == prior.scale:
        delta = (prior.quantized.astype(np.int16) - previous.quantized).astype(np.int8)  # wraps; undone by the same wrap
        packed = zlib.compress(delta.tobytes(), 9)
        if len(packed) < len(update.values):
            update.encoding, update.base_version, update.values = DELTA, previous.version, packed
    return update


def apply_update(update: fleet_pb2.PriorUpdate, current: Prior) -> Prior | None:
    """The prior after ``update``, or None when it is the one in use already (a retained copy seen again).

    Raises PriorRefused for an update older (by version) than the one in use, a delta against another version than
    the one in use (out of order: a push was missed), a prior for another catalogue, or a corrupt payload.
    """
    if update.version == current.version and update.day_unix_s == current.day_unix_s:
        return None
    if update.version <= current.version:  # the version orders pushes, not the day: an operator may push an older day's prior again
        raise PriorRefused(f"older than the prior in use: version {update.version} (day {update.day_unix_s // DAY_S}) "
                           f"against version {current.version} (day {current.day_unix_s // DAY_S})")
    if update.n_items != current.quantized.size:
        raise PriorRefused(f"prior for {update.n_items} items; the model's catalogue has {current.quantized.size}")
    if update.encoding == DELTA and update.base_version != current.version:
        raise PriorRefused(f"out of order: a delta against version {update.base_version}, the device has version {current.version}")
    if update.encoding not in (FULL, DELTA) or not (np.isfinite(update.scale) and update.scale > 0):
        raise PriorRefused(f"unknown encoding {update.encoding} or bad scale {update.scale}")
    try:
        raw = zlib.decompress(update.values)
    except zlib.error as err:
        raise PriorRefused(f"corrupt payload ({err})") from None
    if len(raw) != update.n_items:
        raise PriorRefused(f"payload holds {len(raw)} values, the update says {update.n_items}")
    q = np.frombuffer(raw, np.int8)
    if update.encoding == DELTA:
        if update.scale != current.scale:
            raise PriorRefused(f"a delta with scale {update.scale} against a prior with scale {current.scale}")
        q = (current.quantized.astype(np.int16) + q).astype(np.int8)
    return Prior(q.copy(), float(update.scale), int(update.version), int(update.day_unix_s))
