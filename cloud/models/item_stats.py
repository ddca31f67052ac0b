"""The cloud's own item features, computed from the training period only.

popularity (log baskets), repeat rate (share of the item's buyers who bought it again) and the
item-item co-purchase similarity (cosine over baskets, top neighbours kept). The teacher and the
split reranker use them; the device never needs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cloud.data.examples import Dataset


@dataclass(frozen=True)
class ItemStats:
    """Per-item arrays of length N, and the [N, N] similarity."""

    popularity: np.ndarray
    repeat_rate: np.ndarray
    similarity: np.ndarray

    @classmethod
    def from_dataset(cls, dataset: Dataset, neighbours: int = 100) -> ItemStats:
        """Count over the training examples' baskets and histories (no validation or test data)."""
        n = dataset.catalogue.size
        train = dataset.train
        bought = np.bincount(train.label_items, minlength=n).astype(np.float32)
        repeated = np.zeros(n, np.float32)
        for i in range(len(train)):
            hist = train.hist_items[i]
            repeated[np.intersect1d(hist[hist > 0], train.labels(i))] += 1.0
        repeat_rate = (repeated + 1.0) / (bought + 10.0)
        return cls(np.log1p(bought).astype(np.float32), repeat_rate.astype(np.float32), co_purchase_similarity(dataset, neighbours))

    def save(self, path: Path) -> None:
        """Write as one .npz file."""
        np.savez_compressed(path, popularity=self.popularity, repeat_rate=self.repeat_rate, similarity=self.similarity)

    @classmethod
    def load(cls, path: Path) -> ItemStats:
        """Read what ``save`` wrote."""
        with np.load(path) as data:
            return cls(data["popularity"], data["repeat_rate"], data["similarity"])


def co_purchase_similarity(dataset: Dataset, neighbours: int = 100) -> np.ndarray:
    """Cosine similarity of items over the training baskets, keeping each item's top ``neighbours``: [N, N]."""
    n = dataset.catalogue.size
    train = dataset.train
    co = np.zeros((n, n), np.float32)
    for i in range(len(train)):
        items = train.labels(i)
        co[np.ix_(items, items)] += 1.0
    norm = np.sqrt(np.maximum(np.diag(co), 1.0))
    np.fill_diagonal(co, 0.0)
    similarity = co / norm[:, None] / norm[None, :]
    if neighbours < n:
        cut = -np.partition(-similarity, neighbours, axis=1)[:, neighbours : neighbours + 1]
        similarity[similarity < cut] = 0.0
    return similarity.astype(np.float32)
