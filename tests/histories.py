"""Histories the tests send: the first items of a bundle's catalogue, most recent first."""

from __future__ import annotations

import json
from pathlib import Path


def catalogue_history(bundle: Path, n: int = 5) -> list[tuple[str, float, float]]:
    """(item id, days since bought, baskets) for the catalogue's first ``n`` items."""
    codes = json.loads((bundle / "catalogue.json").read_text())["codes"]
    return [(codes[i], float(i), 1.0 + i % 3) for i in range(1, n + 1)]
