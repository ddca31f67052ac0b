"""``splitrank report router``: what each routing policy buys, on the held-out test split.

For a cloud-call fraction f, a policy sends its f most promising requests to the split route and
answers the rest locally: ``random`` (no information), ``threshold`` (lowest edge confidence first:
the smallest top-1/top-2 score margin) and ``learned`` (highest predicted gain first, the bundle's gain
model). Every request's local and split NDCG@10 is measured by replaying it through the shipped TFLite
edge step and the cloud reranker, so a curve point is the exact mean NDCG@10 of that policy.

The same curves for a fleet whose popularity prior is 0 (fresh: pushed daily), 7, 30 and 60 days old at
every request: the edge step is fed the prior of that many days before the request, and the router's age
feature says so. ``learned_cloud_share_at_release_price`` is the share of requests the learned router sends
at the one price of a call (its threshold for a 30% target) that every device of the release uses: a
stale device sends more, a fresh one fewer.
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


def _policies(replayed: Replay, cloud: ServingModels, gain_model: GainModel, seed: int) -> dict[str, Any]:
    """Local and split NDCG@10, the curves of every policy and each one's share of the split gain at 30%."""
    local = replayed.local_ndcg()
    split = replayed.ndcg(replayed.split_rankings(cloud))
    rng = np.random.default_rng(seed)
    margin = replayed.features[:, 0]
    predicted = gain_model.predict(replayed.features, "split")
    orders = {"random": rng.permutation(len(local)), "threshold": np.argsort(margin, kind="stable"),
              "learned": np.argsort(-predicted, kind="stable"), "oracle": np.argsort(-(split - local), kind="stable")}
    curves = {name: _curve(order, local, split) for name, order in orders.items()}
    local_mean, split_mean = float(local.mean()), float(split.mean())
    full_gain = split_mean - local_mean

    def share(name: str) -> float:
        at = next(ndcg for fraction, ndcg in curves[name] if fraction == 0.3)
        return (at - local_mean) / full_gain if full_gain > 0 else float("nan")

    # the learned router at the price of a call the release sets for a 30% target: the same for every device of the fleet
    sent = predicted >= gain_model.threshold_for(0.3, "split")
    return {"local_ndcg": local_mean, "split_ndcg": split_mean, "curves": curves, "learned_gain_share_at_30": share("learned"),
            "threshold_gain_share_at_30": share("threshold"), "random_gain_share_at_30": share("random"), "oracle_gain_share_at_30": share("oracle"),
            "learned_cloud_share_at_release_price": float(sent.mean()),
            "learned_ndcg_at_release_price": float(np.where(sent, split, local).mean())}


def router_report(replayed: Replay, cloud: ServingModels, gain_model: GainModel, *, by_prior_age: dict[int, Replay] | None = None,
                  seed: int = 0) -> dict[str, Any]:
    """Curves (policy -> [[cloud fraction, NDCG@10], ...]) and the learned policy's share of the split gain at 30%, for
    the bundle as shipped (its release day's prior); with ``by_prior_age`` (days -> the split replayed with a prior that
    old), the same for each, under ``by_prior_age`` (0 = a fresh fleet, fed each day's prior)."""
    cloud_route = replayed.ndcg(replayed.cloud_rankings(cloud))
    result: dict[str, Any] = {"examples": len(cloud_route), **_policies(replayed, cloud, gain_model, seed), "cloud_ndcg": float(cloud_route.mean())}
    if by_prior_age:
        result["by_prior_age"] = {str(days): _policies(stale, cloud, gain_model, seed) for days, stale in sorted(by_prior_age.items())}
    return result
