"""``splitrank report freshness``: what the freshness push buys, on the held-out test split.

Every test request is replayed through the shipped TFLite edge step fed the popularity prior of (a) its
release day (what a device has without pushes), (b) the request's week (a push every 7 days from the
release) and (c) the request's day (a daily push; causal: the 28 days before it), each int8 as on the
wire; then through the split route with the daily prior (the reranker told which prior the device has)
and the cloud route (the teacher over the catalogue). Beside the quality: the real signed push sizes
(full and delta) over the test period, the cloud compute of one prior, and that cost per request.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.data.cleaning import clean_interactions
from cloud.data.loader import load_online_retail
from cloud.data.popularity import trailing_prior
from cloud.training.pipeline import TrainSettings, load_dataset
from core.costs import Prices, push_cost_per_request
from core.prior import DAY_S, DELTA
from devices.freshness import PriorChannel
from splitrank.reports.replay import load_models, replay

WEEK_DAYS = 7


def freshness_report(bundle: Path, data: str | None, *, devices: int = 10_000, requests_per_device_per_day: float = 20.0,
                     prices: Prices | None = None) -> dict[str, Any]:
    """Mean NDCG@10 per prior age and route, push bytes and cost (see the module docstring)."""
    edge, cloud = load_models(bundle)
    dataset, _ = load_dataset(TrainSettings(data=data, history_len=edge.history_len))
    test = dataset.test
    release_day = round((edge.release_unix_s - dataset.start.timestamp()) / DAY_S)
    weekly_days = release_day + (test.day - release_day) // WEEK_DAYS * WEEK_DAYS
    release, weekly, daily = replay(dataset, test, edge), replay(dataset, test, edge, weekly_days), replay(dataset, test, edge, test.day)

    channel = PriorChannel(Ed25519PrivateKey.generate())  # a throwaway key: only the sizes matter here
    sizes: dict[str, list[int]] = {"full": [], "delta": []}
    for day in range(release_day, int(test.day.max()) + 1):
        push, update = channel.push(dataset.trend[day], int(dataset.start.timestamp()) + day * DAY_S)
        sizes["delta" if update.encoding == DELTA else "full"].append(push.ByteSize())
    compute_s = _prior_compute_s(data, edge.codes, dataset.start.timestamp() + int(test.day.max()) * DAY_S)
    push_bytes = float(np.mean(sizes["full"] + sizes["delta"]))
    cost = push_cost_per_request(prices or Prices.load(), push_bytes=push_bytes, compute_s=compute_s, devices=devices,
                                 requests_per_device=requests_per_device_per_day)
    cloud_ndcg = float(release.ndcg(release.cloud_rankings(cloud)).mean())
    local_daily = float(daily.local_ndcg().mean())
    return {"examples": len(test), "local_release_ndcg": float(release.local_ndcg().mean()), "local_weekly_ndcg": float(weekly.local_ndcg().mean()),
            "local_daily_ndcg": local_daily, "split_release_ndcg": float(release.ndcg(release.split_rankings(cloud)).mean()),
            "split_daily_ndcg": float(daily.ndcg(daily.split_rankings(cloud)).mean()), "cloud_ndcg": cloud_ndcg,
            "local_daily_over_cloud": local_daily / cloud_ndcg if cloud_ndcg else float("nan"),
            "catalogue_items": edge.catalogue_size, "pushes": len(sizes["full"]) + len(sizes["delta"]),
            "push_full_bytes": float(np.mean(sizes["full"])), "push_delta_bytes": float(np.mean(sizes["delta"])) if sizes["delta"] else None,
            "push_mean_bytes": push_bytes, "prior_compute_s": compute_s, "push_usd_per_million_requests": cost.usd * 1e6,
            "push_device_mj_per_request": cost.device_joules * 1000, "cost_assumptions": {
                "devices": devices, "requests_per_device_per_day": requests_per_device_per_day, "pushes_per_day": 1}}


def _prior_compute_s(data: str | None, codes: list[str], day_unix_s: float) -> float:
    """Seconds to compute one day's prior from the cleaned interaction log (the cloud's daily job, log loading excluded)."""
    frame, _ = clean_interactions(load_online_retail(data))
    day = np.datetime64(int(day_unix_s), "s").astype("datetime64[D]").item()
    started = time.perf_counter()
    trailing_prior(frame, codes, day)
    return time.perf_counter() - started
