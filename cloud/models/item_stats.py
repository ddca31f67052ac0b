"""The cloud's own item features, computed from the training period only.

popularity (log baskets), repeat rate (share of the item's buyers who bought it again) and each item's
nearest co-occurrence neighbours (the item-kNN signal): cosine similarity over the training period's
baskets, or over customers' item sets when each interaction stands alone, kept as the top ``neighbours``. Nothing here is [items x items] dense, so a
catalogue of 100k items costs megabytes, not tens of gigabytes. The baselines, the teacher and the
split reranker use them; the device never needs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from cloud.data.examples import Dataset

NEIGHBOURS = 100
"""Co-occurrence neighbours kept per item."""


@dataclass(frozen=True)
class ItemStats:
    """Per-item arrays of length N, and the neighbour tables [N, k] (id 0 with similarity 0 pads a row)."""

    popularity: np.ndarray
    repeat_rate: np.ndarray
    neighbours: np.ndarray  # int32 [N, k], most similar first
    neighbour_similarity: np.ndarray  # float32 [N, k]

    @classmethod
    def empty(cls, n_items: int, neighbours: int = 1) -> ItemStats:
        """All zeros: a model built before its statistics are loaded."""
        return cls(np.zeros(n_items, np.float32), np.zeros(n_items, np.float32), np.zeros((n_items, neighbours), np.int32),
                   np.zeros((n_items, neighbours), np.float32))

    @classmethod
    def from_dataset(cls, dataset: Dataset, neighbours: int = NEIGHBOURS) -> ItemStats:
        """Count over the training examples' baskets and histories (no validation or test data)."""
        n = dataset.catalogue.size
        train = dataset.train
        bought = np.bincount(train.label_items, minlength=n).astype(np.float32)
        sizes = np.diff(train.label_ptr)
        rows = np.repeat(np.arange(len(train)), sizes)
        in_history = (train.hist_items[rows] == train.label_items[:, None]).any(axis=1)
        repeated = np.bincount(train.label_items[in_history], minlength=n).astype(np.float32)
        repeat_rate = (repeated + 1.0) / (bought + 10.0)
        ids, sims = co_occurrence_neighbours(dataset, neighbours)
        return cls(np.log1p(bought).astype(np.float32), repeat_rate.astype(np.float32), ids, sims)

    def save(self, path: Path) -> None:
        """Write as one .npz file."""
        np.savez_compressed(path, popularity=self.popularity, repeat_rate=self.repeat_rate, neighbours=self.neighbours,
                            neighbour_similarity=self.neighbour_similarity)

    @classmethod
    def load(cls, path: Path) -> ItemStats:
        """Read what ``save`` wrote."""
        with np.load(path) as data:
            return cls(data["popularity"], data["repeat_rate"], data["neighbours"], data["neighbour_similarity"])


def co_occurrence_neighbours(dataset: Dataset, neighbours: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Each item's top ``neighbours`` by cosine similarity over the training period's baskets where baskets hold
    several items (a shopping log: co-purchase), else over each customer's items (a rating log, one item an
    interaction). Sparse rows x items, so memory follows interactions, not items squared."""
    n = dataset.catalogue.size
    train = dataset.train
    sizes = np.diff(train.label_ptr)
    if sizes.mean() >= 2.0:
        row_ids, item_ids = np.repeat(np.arange(len(train)), sizes), train.label_items
    else:
        users = np.repeat(train.user, sizes)
        last = len(train) - 1 - np.unique(train.user[::-1], return_index=True)[1]
        # each customer's last training example: its history holds their first basket too
        hist_users = np.repeat(train.user[last], train.hist_items.shape[1])
        hist_items = train.hist_items[last].ravel()
        keep = hist_items > 0
        row_ids = np.concatenate([users, hist_users[keep]])
        item_ids = np.concatenate([train.label_items, hist_items[keep]])
    n_rows = int(row_ids.max()) + 1 if len(row_ids) else 1
    owned = sp.csr_matrix((np.ones(len(row_ids), np.float32), (row_ids, item_ids)), shape=(n_rows, n))
    owned.data[:] = 1.0  # duplicates summed by the constructor: a set, not counts
    co = (owned.T @ owned).tocsr()
    norm = np.sqrt(np.maximum(co.diagonal(), 1.0)).astype(np.float32)
    co.setdiag(0.0)
    co.eliminate_zeros()
    co = sp.diags(1.0 / norm) @ co @ sp.diags(1.0 / norm)
    co = co.tocsr()
    ids = np.zeros((n, neighbours), np.int32)
    sims = np.zeros((n, neighbours), np.float32)
    for item in range(n):
        lo, hi = co.indptr[item], co.indptr[item + 1]
        if lo == hi:
            continue
        values, cols = co.data[lo:hi], co.indices[lo:hi]
        top = np.argpartition(-values, neighbours - 1)[:neighbours] if hi - lo > neighbours else np.arange(hi - lo)
        top = top[np.argsort(-values[top], kind="stable")]  # best first, so a prefix is a smaller top list
        values, cols = values[top], cols[top]
        ids[item, : len(cols)] = cols
        sims[item, : len(cols)] = values
    return ids, sims


def knn_scores(stats: ItemStats, hist_items: np.ndarray, hist_age: np.ndarray, half_life_days: float) -> np.ndarray:
    """Item-kNN scores [B, N]: the recency-weighted sum of the history items' neighbour similarities."""
    batch = hist_items.shape[0]
    n = len(stats.popularity)
    weights = np.power(0.5, hist_age / half_life_days) * (hist_items > 0)
    contrib = weights[:, :, None] * stats.neighbour_similarity[hist_items]
    flat = stats.neighbours[hist_items] + (np.arange(batch) * n)[:, None, None]
    scores = np.bincount(flat.ravel(), contrib.ravel(), minlength=batch * n).reshape(batch, n).astype(np.float32)
    scores[:, 0] = 0.0
    return scores
