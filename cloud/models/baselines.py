"""Baselines every learned model is reported beside: a model that loses to these is a bug.

- popularity: the items most bought by everyone in the trailing window before the request.
- personal frequency: the customer's own most bought items, weighted by recency.
- item-kNN co-occurrence: items that the customers who had the customer's recent items also had.
"""

from __future__ import annotations

import numpy as np

from cloud.data.examples import Dataset, Examples
from cloud.models.item_stats import ItemStats, knn_scores

TIE_BREAK = 1e-3
"""Weight of (scaled) popularity added to personal scores so ties fall to popular items."""


class Popularity:
    """Trailing-window popularity at the request's day."""

    name = "popularity"

    def __init__(self, dataset: Dataset) -> None:
        self.trend = dataset.trend

    def __call__(self, examples: Examples, rows: np.ndarray) -> np.ndarray:
        return self.trend[examples.day[rows]].copy()


class PersonalFrequency:
    """Recency-weighted count of the customer's own purchases: count * 0.5 ** (age / half_life)."""

    name = "personal_frequency"

    def __init__(self, dataset: Dataset, half_life_days: float = 60.0) -> None:
        self.trend = dataset.trend
        self.half_life_days = half_life_days

    def __call__(self, examples: Examples, rows: np.ndarray) -> np.ndarray:
        scores = TIE_BREAK * self.trend[examples.day[rows]] / (self.trend.max() + 1e-9)
        weights = examples.hist_count[rows] * np.power(0.5, examples.hist_age[rows] / self.half_life_days)
        np.add.at(scores, (np.arange(len(rows))[:, None].repeat(weights.shape[1], 1), examples.hist_items[rows]), weights)
        scores[:, 0] = 0.0
        return scores


class ItemKnn:
    """Co-occurrence neighbours (cosine over customers, training period), weighted by the history's recency."""

    name = "item_knn"

    def __init__(self, dataset: Dataset, stats: ItemStats | None = None, half_life_days: float = 60.0) -> None:
        """``stats`` is ``ItemStats.from_dataset(dataset)``, computed here when not given."""
        self.stats = ItemStats.from_dataset(dataset) if stats is None else stats
        self.trend = dataset.trend
        self.half_life_days = half_life_days

    def __call__(self, examples: Examples, rows: np.ndarray) -> np.ndarray:
        scores = knn_scores(self.stats, examples.hist_items[rows], examples.hist_age[rows], self.half_life_days)
        scores += TIE_BREAK * self.trend[examples.day[rows]] / (self.trend.max() + 1e-9)
        return scores
