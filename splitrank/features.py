"""Request-context features, computed the same way in training, on the device and in the cloud.

Pure Python and numpy: the edge imports it without TensorFlow.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np

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
