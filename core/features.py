"""Request-context features, computed the same way in training, on the device and in the cloud.

Pure Python and numpy: the edge imports it without TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone

import numpy as np

from core.errors import InvalidRequest

MAX_UNIX_TIME_S = 253_402_300_799
"""The last second of the year 9999: later request times are refused, not converted into an overflow."""
CONTEXT_FEATURES = ("weekday", "hour", "log_days_since_last", "log_baskets", "log_distinct")
"""Request context the models see. No season or date feature: test periods lie outside the training
year, so date features would extrapolate (they cost 10% NDCG@10 on Online Retail)."""


def context_features(when: datetime, days_since_last_basket: float, previous_baskets: int, distinct_items: int) -> np.ndarray:
    """float32 [len(CONTEXT_FEATURES)] for one request."""
    return np.array(
        [when.weekday() / 6.0, when.hour / 23.0, math.log1p(max(days_since_last_basket, 0.0)) / 6.0,
         math.log1p(max(previous_baskets, 0)) / 6.0, math.log1p(max(distinct_items, 0)) / 8.0],
        np.float32,
    )


def history_arrays(entries: Sequence[tuple[int, object, float, float]], history_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded (item ids, age, count) arrays [history_len] of a request's history, most recent first, as the
    models read it; the device and the cloud check it the same way. Each entry is (catalogue index, the
    item as the request named it, age in days, count); entries past ``history_len`` are dropped. Raises
    ``InvalidRequest`` naming the slot for a repeated item, a negative or non-finite age, or a count below 1."""
    items = np.zeros(history_len, np.int32)
    age = np.zeros(history_len, np.float32)
    count = np.zeros(history_len, np.float32)
    seen: set[int] = set()
    for slot, (index, named, age_days, baskets) in enumerate(entries[:history_len]):
        if index in seen:
            raise InvalidRequest(f"history[{slot}].item_id {named!r} appears twice: send each item once with its count")
        if not (math.isfinite(age_days) and age_days >= 0):
            raise InvalidRequest(f"history[{slot}].age_days must be a finite number >= 0, got {age_days}")
        if not (math.isfinite(baskets) and baskets >= 1):
            raise InvalidRequest(f"history[{slot}].count must be >= 1, got {baskets}")
        seen.add(index)
        items[slot], age[slot], count[slot] = index, age_days, baskets
    return items, age, count


def request_context(unix_time_s: int, days_since_last_basket: float, previous_baskets: int, distinct_items: int) -> np.ndarray:
    """``context_features`` of a request as sent (time 0 = now); raises ``InvalidRequest`` for a request time outside
    0..MAX_UNIX_TIME_S or a bad days_since_last_basket."""
    if not 0 <= unix_time_s <= MAX_UNIX_TIME_S:
        raise InvalidRequest(f"context.unix_time_s must be between 0 (= now) and {MAX_UNIX_TIME_S}, got {unix_time_s}")
    if not (math.isfinite(days_since_last_basket) and days_since_last_basket >= 0):
        raise InvalidRequest(f"context.days_since_last_basket must be >= 0, got {days_since_last_basket}")
    when = datetime.fromtimestamp(unix_time_s, timezone.utc) if unix_time_s > 0 else datetime.now(timezone.utc)
    return context_features(when, days_since_last_basket, previous_baskets, distinct_items)
