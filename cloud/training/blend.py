"""Fit the teacher's starting blend on the validation split of the log being trained.

The teacher starts as ``repeat + trend weight * trend + kNN weight * knn`` (see ``cloud.models.teacher``),
repeat being ``bonus + log count - ln 2 * age / half-life`` for items in the history. Which of these a log
rewards differs: repeat purchases carry retail; popularity and co-occurrence carry a log where nobody
rates a movie twice (there the repeat bonus turns negative: what a customer already had ranks last).
The four weights (repeat bonus, recency half-life, trend and kNN weight; the count slope stays 1) are
found by coordinate search over a small grid each, from the Online Retail start, scored by NDCG@10 on a
sample of the validation split. A step is taken only when its gain is significant in a paired test per
example (``SIGNIFICANCE`` standard errors: Bonferroni over the ~50 comparisons), so a small validation
split does not pull the start towards its own noise. Scores are computed over each example's plausible
items only (its history, its top trend and top kNN items): the search costs the same for 10k or 500k items.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cloud.data.examples import Dataset, Examples
from cloud.models.item_stats import ItemStats, knn_scores
from cloud.models.teacher import KNN_HALF_LIFE_DAYS, TeacherConfig

GRID = {
    "repeat_bonus": (-20.0, -4.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0),
    "recency_half_life_days": (7.0, 30.0, 90.0, 365.0),
    "trend_weight": (0.0, 1.0, 2.0, 4.0, 8.0, 16.0),
    "knn_weight": (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0),
}
SIGNIFICANCE = 3.2
"""Standard errors a step's validation gain must exceed: one-sided 5% over ~50 comparisons (Bonferroni)."""
SHORTLIST = 200
"""Top items by trend and by kNN kept per example (beside its history)."""
_DISCOUNTS = 1.0 / np.log2(np.arange(2, 12))


@dataclass
class _Candidates:
    valid: np.ndarray  # [S, M]: a real item, each once
    trend: np.ndarray
    knn: np.ndarray
    in_history: np.ndarray
    log_count: np.ndarray
    age: np.ndarray
    relevant: np.ndarray
    ideal: np.ndarray  # [S]


def fit_blend(dataset: Dataset, stats: ItemStats, *, sample: int = 4000, seed: int = 0, rounds: int = 2) -> tuple[dict[str, float], float]:
    """The validation-best starting weights (TeacherConfig field -> value) and their NDCG@10 on the sample."""
    candidates = _shortlist(dataset, stats, dataset.validation, sample, seed)
    defaults = TeacherConfig(1)
    blend = {name: float(getattr(defaults, name)) for name in (*GRID, "count_weight")}
    best = _ndcg(candidates, blend)
    for _ in range(rounds):
        for name, values in GRID.items():
            for value in values:
                trial = {**blend, name: value}
                per_example = _ndcg(candidates, trial)
                if _significantly_better(per_example, best):
                    best, blend = per_example, trial
    return blend, float(best.mean())


def _significantly_better(trial: np.ndarray, best: np.ndarray) -> bool:
    """A paired test on the per-example NDCG: the mean gain must exceed ``SIGNIFICANCE`` standard errors."""
    gain = trial - best
    return float(gain.mean()) > SIGNIFICANCE * float(gain.std()) / math.sqrt(len(gain)) + 1e-9


def _shortlist(dataset: Dataset, stats: ItemStats, examples: Examples, sample: int, seed: int) -> _Candidates:
    rows = np.sort(np.random.default_rng(seed).choice(len(examples), size=min(sample, len(examples)), replace=False))
    parts: list[_Candidates] = []
    for lo in range(0, len(rows), 256):
        chunk = rows[lo : lo + 256]
        hist, age, count = examples.hist_items[chunk], examples.hist_age[chunk], examples.hist_count[chunk]
        trend = dataset.trend[examples.day[chunk]]
        knn = knn_scores(stats, hist, age, KNN_HALF_LIFE_DAYS)
        top = min(SHORTLIST, trend.shape[1] - 1)
        ids = np.concatenate([hist, np.argpartition(-trend, top, axis=1)[:, :top], np.argpartition(-knn, top, axis=1)[:, :top]], 1)
        ids = np.where(ids == 0, -1, ids)
        ids.sort(axis=1)
        duplicate = np.zeros_like(ids, bool)
        duplicate[:, 1:] = ids[:, 1:] == ids[:, :-1]
        valid = (ids > 0) & ~duplicate
        safe = np.maximum(ids, 0)
        slot = hist[:, :, None] == safe[:, None, :]  # [B, L, M]
        in_history = slot.any(1) & valid
        labels = [examples.labels(int(i)) for i in chunk]
        relevant = np.stack([np.isin(safe[r], labels[r]) for r in range(len(chunk))]) & valid
        parts.append(_Candidates(
            valid=valid, trend=np.take_along_axis(trend, safe, 1), knn=np.take_along_axis(knn, safe, 1),
            in_history=in_history, log_count=np.log(np.maximum((slot * count[:, :, None]).sum(1), 1.0)),
            age=(slot * age[:, :, None]).sum(1), relevant=relevant,
            ideal=np.array([_DISCOUNTS[: min(len(x), 10)].sum() for x in labels])))
    width = max(p.trend.shape[1] for p in parts)

    def pad(name: str, fill: float) -> np.ndarray:
        return np.concatenate([np.pad(getattr(p, name), ((0, 0), (0, width - getattr(p, name).shape[1])), constant_values=fill)
                               for p in parts])

    return _Candidates(pad("valid", False), pad("trend", 0.0), pad("knn", 0.0), pad("in_history", False), pad("log_count", 0.0), pad("age", 0.0),
                       pad("relevant", False), np.concatenate([p.ideal for p in parts]))


def _ndcg(c: _Candidates, blend: dict[str, float]) -> np.ndarray:
    """NDCG@10 of every sampled example under ``blend``."""
    repeat = blend["repeat_bonus"] + blend["count_weight"] * c.log_count - math.log(2.0) * c.age / blend["recency_half_life_days"]
    scores = blend["trend_weight"] * c.trend + blend["knn_weight"] * c.knn + np.where(c.in_history, repeat, 0.0)
    scores = np.where(c.valid, scores, -np.inf)
    top = np.argpartition(-scores, 9, axis=1)[:, :10]
    order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
    gains = np.take_along_axis(c.relevant, np.take_along_axis(top, order, 1), 1)
    return (gains * _DISCOUNTS).sum(1) / np.maximum(c.ideal, 1e-9)
