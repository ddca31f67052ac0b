"""Synthetic interaction logs, for tests and scale benchmarks only: quality figures never come from them.

``write_synthetic_online_retail``: a small log in the Online Retail file format. Customers have favourite
items they re-buy (the repeat behaviour real retail shows) and explore items of a preferred category;
dates span the Online Retail year so its split dates apply.

``write_synthetic_log``: a generic interactions CSV of any size (``user_id,item_id,timestamp`` in unix
seconds), for ``splitrank bench train``: power-law item popularity and customer activity, a taste
cluster per customer (so items co-occur), baskets of a few items, with or without repeat purchases.
"""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np


def write_synthetic_online_retail(path: Path, *, customers: int = 120, items: int = 200, baskets_per_customer: int = 12,
                                  seed: int = 0) -> Path:
    """Write a gzip CSV with the Online Retail columns and return its path."""
    rng = np.random.default_rng(seed)
    start, span = datetime(2010, 12, 1, 8, 0), (datetime(2011, 12, 9) - datetime(2010, 12, 1)).days
    codes = [f"{10000 + i}" for i in range(items)]
    category = rng.integers(0, 8, size=items)
    lines = ["invoice,stock_code,description,quantity,invoice_date,unit_price,customer_id,country"]
    invoice = 500000
    for customer in range(customers):
        favourite_category = rng.integers(0, 8)
        pool = np.flatnonzero(category == favourite_category)
        favourites = rng.choice(items, size=6, replace=False)
        days = np.sort(rng.choice(span, size=baskets_per_customer, replace=False))
        for day in days:
            invoice += 1
            basket = set(rng.choice(favourites, size=3, replace=False)) | set(rng.choice(pool, size=min(3, len(pool)), replace=False))
            when = start + timedelta(days=int(day), minutes=int(rng.integers(0, 600)))
            for item in sorted(basket):
                lines.append(f"{invoice},{codes[item]},ITEM {item},{int(rng.integers(1, 12))},{when:%Y-%m-%dT%H:%M:%S},"
                             f"{rng.uniform(0.5, 9):.2f},{13000 + customer},United Kingdom")
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def write_synthetic_log(path: Path, *, interactions: int, items: int, repeats: bool, seed: int = 0,
                        clusters: int = 50, basket_size: int = 4, days: int = 365) -> Path:
    """Write a gzip CSV of about ``interactions`` rows (exactly that many with ``repeats``; without, each
    customer has an item at most once) and return its path. Vectorised: 2M rows take seconds."""
    rng = np.random.default_rng(seed)
    users = max(interactions // 20, 2)
    activity = rng.pareto(1.5, users) + 1.0
    per_user = np.maximum(np.round(activity / activity.sum() * interactions), 1).astype(np.int64)
    user = np.repeat(np.arange(users), per_user)[:interactions]
    n = len(user)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    cluster_of_item = rng.integers(0, clusters, items)
    taste = rng.integers(0, clusters, users)[user]
    global_pick = rng.choice(items, size=n, p=popularity / popularity.sum())
    by_cluster = [np.flatnonzero(cluster_of_item == c) for c in range(clusters)]
    cluster_weights = [popularity[ids] / popularity[ids].sum() for ids in by_cluster]
    cluster_pick = np.empty(n, np.int64)
    for c in range(clusters):
        rows = np.flatnonzero(taste == c)
        cluster_pick[rows] = rng.choice(by_cluster[c], size=len(rows), p=cluster_weights[c])
    item = np.where(rng.random(n) < 0.5, cluster_pick, global_pick)
    if repeats:  # a third of a customer's interactions re-buy one of their first five items
        first = np.searchsorted(user, user)
        again = rng.random(n) < 1 / 3
        item = np.where(again, item[np.minimum(first + rng.integers(0, 5, n), n - 1)], item)
    position = np.arange(n) - np.searchsorted(user, user)
    basket = position // basket_size
    start_day = rng.integers(0, days, users)[user]
    day = (start_day + basket * rng.integers(1, 15, users)[user]) % days
    timestamp = 1_356_998_400 + day * 86400 + rng.integers(8 * 3600, 22 * 3600, users)[user] + basket
    frame_rows = np.stack([user, item, timestamp], 1)
    if not repeats:
        _, keep = np.unique(frame_rows[:, :2], axis=0, return_index=True)
        frame_rows = frame_rows[np.sort(keep)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", compresslevel=1) as handle:
        handle.write("user_id,item_id,timestamp\n")
        np.savetxt(handle, frame_rows, fmt=["u%d", "i%06d", "%d"], delimiter=",")
    return path
