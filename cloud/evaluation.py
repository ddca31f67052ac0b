"""Ranking metrics over examples: NDCG@10, Recall@20, HitRate@10 with binary relevance.

Every scorer returns a score per catalogue item (padding is never ranked); metrics take the top of
that ranking. Ties are broken by item index, which is popularity order, so results are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from cloud.data.examples import Examples

Scorer = Callable[[Examples, np.ndarray], np.ndarray]
"""(examples, row indices) -> float scores [len(rows), n_items]."""

_DISCOUNTS = 1.0 / np.log2(np.arange(2, 202))
DENSE_SCORES = 8_000_000
"""Whole-catalogue scores held at once while evaluating: 512 rows at 15k items, 80 at 100k."""


@dataclass(frozen=True)
class RankingMetrics:
    """Mean metrics over a split."""

    ndcg_at_10: float
    recall_at_20: float
    hit_rate_at_10: float
    examples: int

    def as_dict(self) -> dict[str, float | int]:
        """Plain dict for JSON and tables."""
        return asdict(self)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best items per row, best first (padding column 0 excluded)."""
    scores = scores.copy()
    scores[:, 0] = -np.inf
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def per_example_metrics(examples: Examples, rankings: np.ndarray, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """NDCG@10, Recall@20 and hit@10 of every ranked row (item ids, best first); NaN where a basket has no
    known item. The router learns from, and is judged on, these per-request figures."""
    rows = np.arange(len(examples)) if rows is None else rows
    out = {name: np.full(len(rows), np.nan) for name in ("ndcg_at_10", "recall_at_20", "hit_rate_at_10")}
    for r, index in enumerate(rows):
        relevant = examples.labels(int(index))
        if len(relevant) == 0:
            continue
        gains = np.isin(rankings[r], relevant)
        ideal = _DISCOUNTS[: min(len(relevant), 10)].sum()
        out["ndcg_at_10"][r] = float((gains[:10] * _DISCOUNTS[: len(gains[:10])]).sum() / ideal)
        out["recall_at_20"][r] = float(gains[:20].sum() / len(relevant))
        out["hit_rate_at_10"][r] = float(gains[:10].any())
    return out


def metrics_from_rankings(examples: Examples, rankings: np.ndarray, rows: np.ndarray | None = None) -> RankingMetrics:
    """Mean metrics for explicit rankings (item ids, best first, at least 20 per row); a basket with no
    known item counts as a miss."""
    per = per_example_metrics(examples, rankings, rows)
    n = max(len(per["ndcg_at_10"]), 1)
    return RankingMetrics(*(float(np.nansum(per[name]) / n) for name in ("ndcg_at_10", "recall_at_20", "hit_rate_at_10")),
                          len(per["ndcg_at_10"]))


def rows_per_batch(n_items: int) -> int:
    """Rows to score at once so one batch of whole-catalogue scores stays near ``DENSE_SCORES`` values."""
    return max(16, min(512, DENSE_SCORES // max(n_items, 1)))


def evaluate(scorer: Scorer, examples: Examples, *, batch_size: int | None = None) -> RankingMetrics:
    """Score every example of a split in batches (sized to the catalogue unless given) and return the mean metrics."""
    rankings, lo, size = [], 0, batch_size or 16
    while lo < len(examples):
        rows = np.arange(lo, min(lo + size, len(examples)))
        scores = scorer(examples, rows)
        rankings.append(top_k(scores, 20))
        lo += len(rows)
        size = batch_size or rows_per_batch(scores.shape[1])
    return metrics_from_rankings(examples, np.concatenate(rankings))


def candidate_recall(candidates: np.ndarray, examples: Examples, rows: np.ndarray | None = None, *, repeats_only: bool = False) -> float:
    """Share of each basket's items that are among its candidate set, averaged over examples.

    ``repeats_only`` counts only basket items the customer bought before (examples without any are skipped):
    how well the candidates keep what the customer is likely to buy again.
    """
    rows = np.arange(len(examples)) if rows is None else rows
    total, counted = 0.0, 0
    for r, index in enumerate(rows):
        relevant = examples.labels(int(index))
        if repeats_only:
            relevant = relevant[np.isin(relevant, examples.hist_items[int(index)])]
            if len(relevant) == 0:
                continue
        total += float(np.isin(relevant, candidates[r]).sum() / max(len(relevant), 1))
        counted += 1
    return total / max(counted, 1)
