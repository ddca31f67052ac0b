"""Cleaning rules for purchase logs, each one counted so the report says what was dropped and why.

Rules, in order: ratings below ``min_rating`` (logs with explicit ratings), cancellations and adjustments (basket ids starting with ``C`` or ``A``), rows without
a user, returns and zero or negative quantities, zero or negative prices, non-product codes (postage,
manual entries, bank charges: anything that is not a product code), and exact duplicate rows. A
return's original purchase is kept: the customer did choose the item, which is what ranking learns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from cloud.data.errors import DataError

PRODUCT_CODE = re.compile(r"^\d{5}[A-Za-z]{0,2}$")


@dataclass(frozen=True)
class CleaningReport:
    """Rows in, rows out, and how many each rule removed."""

    rows_in: int
    rows_out: int
    dropped: dict[str, int] = field(default_factory=dict)


MIN_DAYS = 3
"""A temporal split needs train, validation and test days."""


def clean_interactions(frame: pd.DataFrame, *, product_codes_only: bool = True,
                       min_rating: float | None = None) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply the cleaning rules; ``product_codes_only`` is for Online Retail style stock codes."""
    rules: list[tuple[str, pd.Series]] = []
    if min_rating is not None:
        rules.append(("below_min_rating", frame["rating"] < min_rating))
    if product_codes_only:  # Online Retail's invoice numbers; a CSV's own basket ids may start with any letter
        rules.append(("cancellation_or_adjustment", frame["basket"].str.match(r"^[CA]")))
    rules += [
        ("missing_user", frame["user"] == ""),
        ("non_positive_quantity", frame["quantity"].fillna(0) <= 0),
        ("non_positive_price", frame["price"].fillna(0) <= 0),
    ]
    if product_codes_only:
        rules.append(("non_product_code", ~frame["item"].str.match(PRODUCT_CODE)))
    dropped: dict[str, int] = {}
    keep = pd.Series(True, index=frame.index)
    for name, mask in rules:
        removed = keep & mask
        dropped[name] = int(removed.sum())
        keep &= ~mask
    cleaned = frame[keep]
    before = len(cleaned)
    cleaned = cleaned.drop_duplicates(subset=["user", "item", "basket", "time", "quantity", "price"])
    dropped["duplicate_row"] = before - len(cleaned)
    if cleaned.empty:
        raise DataError(f"no rows left after cleaning ({dropped})")
    cleaned = cleaned.sort_values(["time", "basket"], kind="stable").reset_index(drop=True)
    return cleaned, CleaningReport(rows_in=len(frame), rows_out=len(cleaned), dropped=dropped)


def check_trainable(frame: pd.DataFrame) -> None:
    """Raise ``DataError`` when a cleaned log cannot be trained on: one user, or fewer than ``MIN_DAYS`` days."""
    users = frame["user"].nunique()
    if users < 2:
        raise DataError(f"the log has one user ({frame['user'].iloc[0]!r}): ranking learns from many users' "
                        "interactions; check --user-col")
    days = frame["time"].dt.normalize().nunique()
    if days < MIN_DAYS:
        raise DataError(f"the log spans {days} day{'s' if days > 1 else ''} ({frame['time'].min():%Y-%m-%d} .. "
                        f"{frame['time'].max():%Y-%m-%d}): the temporal split into train, validation and test needs "
                        f"interactions on at least {MIN_DAYS} days; check --time-col and --time-format")
