"""The router's curve over recorded answers: one point per price of a cloud call."""

from __future__ import annotations

import numpy as np

from splitrank.demo.curve import router_curve


def test_the_curve_sends_the_highest_scores_and_only_answers_that_came_in_time() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=400)
    local = np.full(400, 0.2)
    split = 0.2 + 0.1 * (scores > 1.0)  # only the highest scores gain
    in_time = np.arange(400) % 4 != 0  # a quarter of the split answers came after the cloud timeout
    points = router_curve(scores, local, split, in_time, prices=[1.0])
    prices = [p["budget_multiplier"] for p in points]
    assert prices == sorted(prices) and 1.0 in prices
    shares = [p["cloud_share"] for p in points]
    assert shares == sorted(shares, reverse=True) and shares[-1] == 0 and shares[0] == in_time.mean()
    at_price = points[prices.index(1.0)]
    assert at_price["cloud_share"] == np.mean((scores >= 1.0) & in_time)
    assert at_price["ndcg_at_10"] == points[0]["ndcg_at_10"] > points[-1]["ndcg_at_10"] == 0.2  # the gain is all above the price
