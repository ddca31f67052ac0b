"""The trailing-window popularity prior: per item, log1p(baskets holding it during the window's days
before a given day), relative to the top item so levels do not drift with sales volume. Causal: the
day itself is not in its window. Training (the trend table) and the fleet's freshness push use this
one definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

WINDOW_DAYS = 28


def relative_log_counts(window_counts: np.ndarray) -> np.ndarray:
    """log1p of basket counts [..., N], divided by the row's largest (rows without sales stay 0)."""
    logs = np.log1p(window_counts)
    return np.asarray(logs / np.maximum(logs.max(axis=-1, keepdims=True), 1.0), np.float32)


def trailing_prior(frame: pd.DataFrame, codes: Sequence[str], day: date, *, window_days: int = WINDOW_DAYS) -> np.ndarray:
    """The prior [len(codes)] for ``day`` (its 00:00) from a cleaned interactions frame (columns item, basket,
    time), over the catalogue ``codes`` (item 0 is padding; items outside the catalogue are ignored)."""
    start = pd.Timestamp(day).normalize()
    inside = frame[(frame["time"] >= start - timedelta(days=window_days)) & (frame["time"] < start)]
    pairs = inside.drop_duplicates(["basket", "item"])
    index = pd.Series(np.arange(len(codes)), index=list(codes))
    ids = pairs["item"].map(index).dropna().to_numpy(np.int64)
    counts = np.bincount(ids[ids > 0], minlength=len(codes)).astype(np.float32)
    return relative_log_counts(counts)
