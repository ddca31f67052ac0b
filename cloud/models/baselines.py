"""Baselines every learned model is reported beside: a model that loses to these is a bug.

- popularity: the items most bought by everyone in the trailing window before the request.
- personal frequency: the customer's own most bought items, weighted by recency.
- item-kNN co-purchase: items bought in the same baskets as the customer's recent items.
"""

from __future__ import annotations

import numpy as np

from cloud.data.examples import Dataset, Examples
from cloud.models.item_stats import co_purchase_similarity

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
    """Co-purchase neighbours: cosine similarity of item basket vectors from the training period."""

    name = "item_knn"

    def __init__(self, dataset: Dataset, similarity: np.ndarray | None = None, half_life_days: float = 60.0) -> None:
        """``similarity`` is ``co_purchase_similarity(dataset)``, computed here when not given."""
        self.similarity = co_purchase_similarity(dataset) if similarity is None else similarity
        self.trend = dataset.trend
        self.half_life_days = half_life_days

    def __call__(self, examples: Examples, rows: np.ndarray) -> np.ndarray:
        weights = np.power(0.5, examples.hist_age[rows] / self.half_life_days) * (examples.hist_items[rows] > 0)
        scores = np.einsum("bl,bln->bn", weights, self.similarity[examples.hist_items[rows]])
        scores += TIE_BREAK * self.trend[examples.day[rows]] / (self.trend.max() + 1e-9)
        return scores
