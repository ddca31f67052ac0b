"""The routed policy's curve over the demo's recorded requests: NDCG@10 against cloud share for each price of
a cloud call (the budget multiplier the fleet controller holds), one point per price.

Every request of the replay was answered once by the device alone (``local+push``) and once by the split route
(``split``), each with the prior the device held then. The learned router's score of each request is
recomputed as the agent computes it: the TFLite edge step on the request as the SDK sent it, fed the prior
its device held that day, the bundle's gain model, times the chance its network delivers the answer. At a
price, a request takes its recorded split answer when its score clears the price and that answer came
within the routed policy's cloud timeout (a slower link keeps it local, as the router's latency check
does), else its local answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.gain_model import router_features
from core.prior import Prior
from edge.model import EdgeModel
from splitrank.demo.replay import Request

POINTS = 21
"""Prices swept: the score quantiles 0, 5, ..., 100%, plus one above every score (no cloud call)."""


def router_scores(requests: Sequence[Request], edge: EdgeModel, priors: Sequence[Prior], losses: Sequence[float]) -> np.ndarray:
    """The learned router's score [R] of each request: its device's edge step fed ``priors[i]``, the gain model's
    expected split gain, times (1 - the loss of the request's network, ``losses[agent]``)."""
    if edge.gain_model is None:
        raise ValueError(f"bundle {edge.bundle} has no gain model (edge/router.json)")
    scores = np.zeros(len(requests))
    for i, (request, prior) in enumerate(zip(requests, priors, strict=True)):
        codes, ages, counts = zip(*request.history, strict=True) if request.history else ((), (), ())
        items, age, count = edge.encode_columns(list(codes), list(ages), list(counts))
        unix_time_s = int(request.context["unix_time_s"])
        context = edge.context(unix_time_s, request.context["days_since_last_basket"], int(request.context["previous_baskets"]),
                               distinct_items=len(request.history))
        result = edge.run(items, age, count, context, prior)
        features = router_features(result.candidate_ids, result.candidate_scores, items, context, prior.age_days(unix_time_s))
        scores[i] = float(edge.gain_model.predict(features, "split")[0]) * (1.0 - losses[request.agent])
    return scores


def router_curve(scores: np.ndarray, local_ndcg: np.ndarray, split_ndcg: np.ndarray, split_in_time: np.ndarray,
                 prices: Sequence[float] = ()) -> list[dict[str, Any]]:
    """One point per price (the score quantiles and ``prices``), cheapest price first: ``budget_multiplier``,
    ``cloud_share`` and ``ndcg_at_10`` of the recorded requests."""
    grid = np.unique(np.concatenate([np.quantile(scores, np.linspace(0, 1, POINTS)), np.asarray(prices, np.float64),
                                     [np.max(scores, initial=0.0) + 1.0]]))
    points = []
    for price in grid:
        sent = (scores >= price) & split_in_time
        points.append({"budget_multiplier": float(price), "cloud_share": float(sent.mean()),
                       "ndcg_at_10": float(np.where(sent, split_ndcg, local_ndcg).mean())})
    return points
