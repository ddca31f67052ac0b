"""Cleaning rules and the temporal split: histories only ever look back in time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cloud.data import DataError, load_online_retail
from cloud.data.cleaning import clean_interactions
from cloud.data.examples import SplitDates, build_dataset


def _frame(rows: list[tuple[str, str, str, str, float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user", "item", "basket", "time", "quantity", "price"])
    frame["time"] = pd.to_datetime(frame["time"])
    frame["description"] = ""
    return frame


def test_cleaning_counts_every_rule() -> None:
    frame = _frame([
        ("1", "10001", "500001", "2011-01-01", 1, 1.0),
        ("1", "10001", "C500002", "2011-01-02", -1, 1.0),   # cancellation
        ("", "10001", "500003", "2011-01-02", 1, 1.0),      # no customer
        ("1", "10002", "500004", "2011-01-03", 0, 1.0),     # zero quantity
        ("1", "10002", "500005", "2011-01-03", 1, 0.0),     # free
        ("1", "POST", "500006", "2011-01-03", 1, 5.0),      # postage
        ("1", "10001", "500001", "2011-01-01", 1, 1.0),     # duplicate
    ])
    cleaned, report = clean_interactions(frame)
    assert len(cleaned) == 1
    assert report.dropped == {"cancellation_or_adjustment": 1, "missing_user": 1, "non_positive_quantity": 1,
                              "non_positive_price": 1, "non_product_code": 1, "duplicate_row": 1}


def test_nothing_left_after_cleaning_is_an_error() -> None:
    with pytest.raises(DataError, match="no rows left"):
        clean_interactions(_frame([("", "10001", "1", "2011-01-01", 1, 1.0)]))


def test_histories_never_see_the_future(synthetic_data: Path) -> None:
    cleaned, _ = clean_interactions(load_online_retail(synthetic_data))
    dataset = build_dataset(cleaned, SplitDates.online_retail(), history_len=16)
    assert min(len(s) for s in dataset.splits().values()) > 0
    for examples in dataset.splits().values():
        assert (examples.hist_age[examples.hist_items > 0] > 0).all(), "an item in a history was bought at or after the basket"
        ages = np.where(examples.hist_items > 0, examples.hist_age, 1e9)
        assert (np.diff(ages, axis=1) >= 0).all(), "histories are most recent first"
    train_days = dataset.train.day.max()
    assert train_days < dataset.validation.day.min() <= dataset.validation.day.max() < dataset.test.day.min()


def test_trend_is_causal(synthetic_data: Path) -> None:
    cleaned, _ = clean_interactions(load_online_retail(synthetic_data))
    dataset = build_dataset(cleaned, SplitDates.online_retail(), history_len=16)
    assert (dataset.trend[0] == 0).all(), "day 0 has no past, so no trend"
    first_item = dataset.catalogue.codes.index(cleaned["item"].iloc[0])
    assert dataset.trend[1, first_item] > 0


def test_empty_split_is_an_error(synthetic_data: Path) -> None:
    cleaned, _ = clean_interactions(load_online_retail(synthetic_data))
    with pytest.raises(DataError, match="the test split is empty"):
        build_dataset(cleaned, SplitDates(datetime(2011, 6, 1), datetime(2030, 1, 1)))
