"""The freshness push computes the prior with the same definition training used (the trend table)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np

from cloud.data.cleaning import clean_interactions
from cloud.data.loader import load_online_retail
from cloud.data.popularity import trailing_prior
from cloud.training.pipeline import TrainSettings, load_dataset


def test_trailing_prior_of_a_day_is_the_trend_row_of_that_day(synthetic_data: Path) -> None:
    dataset, _ = load_dataset(TrainSettings(data=str(synthetic_data), history_len=16))
    frame, _ = clean_interactions(load_online_retail(str(synthetic_data)))
    codes = list(dataset.catalogue.codes)
    for day in (5, 40, int(dataset.test.day.min()), dataset.trend.shape[0] - 1):
        prior = trailing_prior(frame, codes, (dataset.start + timedelta(days=day)).date())
        assert prior.shape == (len(codes),) and prior[0] == 0.0
        np.testing.assert_allclose(prior, dataset.trend[day], atol=1e-6)
    assert dataset.trend[40].max() == 1.0, "relative to the day's top item"
