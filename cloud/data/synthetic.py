"""Small synthetic purchase logs in the Online Retail file format, for unit tests only.

Customers have favourite items they re-buy (the repeat behaviour real retail shows) and explore
items of a preferred category; dates span the Online Retail year so its split dates apply.
Quality figures never come from this data.
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
