"""``splitrank report router``: what each routing policy buys, on the held-out test split.

For a cloud-call fraction f, a policy sends its f most promising requests to the split route and
answers the rest locally: ``random`` (no information), ``threshold`` (lowest edge confidence first:
the smallest top-1/top-2 score margin) and ``learned`` (highest predicted gain first, the bundle's gain
model). Every request's local and split NDCG@10 is measured by replaying it through the shipped TFLite
edge step and the cloud reranker, so a curve point is the exact mean NDCG@10 of that policy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cloud.serving.scoring import ServingModels
from core.gain_model import GainModel
from splitrank.reports.replay import Replay

FRACTIONS = tuple(round(f, 2) for f in np.linspace(0, 1, 21))


def _curve(order: np.ndarray, local: np.ndarray, split: np.ndarray) -> list[list[float]]:
    """Mean NDCG@10 when the first ``f * n`` requests of ``order`` take the split route."""
    gain = (split - local)[order]
    cumulative = np.concatenate([[0.0], np.cumsum(gain)])
    n = len(local)
    return [[f, float((local.sum() + cumulative[round(f * n)]) / n)] for f in FRACTIONS]


def router_report(replayed: Replay, cloud: ServingModels, gain_model: GainModel, *, seed: int = 0) -> dict[str, Any]:
    """Curves (policy -> [[cloud fraction, NDCG@10], ...]) and the learned policy's share of the split gain at 30%."""
    local = replayed.local_ndcg()
    split = replayed.ndcg(replayed.split_rankings(cloud))
    cloud_route = replayed.ndcg(replayed.cloud_rankings(cloud))
    rng = np.random.default_rng(seed)
    margin = replayed.features[:, 0]
    orders = {"random": rng.permutation(len(local)), "threshold": np.argsort(margin, kind="stable"),
              "learned": np.argsort(-gain_model.predict(replayed.features, "split"), kind="stable"),
              "oracle": np.argsort(-(split - local), kind="stable")}
    curves = {name: _curve(order, local, split) for name, order in orders.items()}
    local_mean, split_mean = float(local.mean()), float(split.mean())
    full_gain = split_mean - local_mean

    def share(name: str) -> float:
        at = dict(curves[name])[0.3]
        return (at - local_mean) / full_gain if full_gain > 0 else float("nan")

    return {"examples": len(local), "local_ndcg": local_mean, "split_ndcg": split_mean, "cloud_ndcg": float(cloud_route.mean()),
            "curves": curves, "learned_gain_share_at_30": share("learned"), "threshold_gain_share_at_30": share("threshold"),
            "random_gain_share_at_30": share("random"), "oracle_gain_share_at_30": share("oracle")}
