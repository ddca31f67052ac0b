"""The freshness push's codec: int8 with a scale, deltas when smaller, and the order checks a device makes."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from core.prior import DAY_S, DELTA, FULL, PriorRefused, apply_update, encode_update, quantize

N = 4000


def trend(seed: int, changed: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.log1p(rng.poisson(3.0, N)).astype(np.float32)
    return values / values.max()


def drift(values: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A day later: a share of the items moved."""
    rng = np.random.default_rng(seed)
    moved = values.copy()
    pick = rng.random(N) < share
    moved[pick] = np.clip(moved[pick] + rng.normal(0, 0.1, pick.sum()), 0, 1)
    moved[0] = 1.0
    return moved


def test_int8_within_half_a_step_and_round_trips() -> None:
    values = trend(0)
    prior = quantize(values, version=1, day_unix_s=10 * DAY_S)
    assert prior.quantized.dtype == np.int8 and np.abs(prior.values - values).max() <= prior.scale / 2 + 1e-7
    start = quantize(np.zeros(N), version=0, day_unix_s=0)
    applied = apply_update(encode_update(prior), start)
    assert applied is not None and np.array_equal(applied.quantized, prior.quantized) and applied.version == 1


def test_delta_is_sent_when_smaller_and_rebuilds_the_same_prior() -> None:
    day1 = quantize(trend(1), version=1, day_unix_s=DAY_S)
    day2 = quantize(drift(trend(1), 0.05, 2), version=2, day_unix_s=2 * DAY_S)
    update = encode_update(day2, day1)
    assert update.encoding == DELTA and update.base_version == 1
    assert len(update.values) < len(encode_update(day2).values)
    rebuilt = apply_update(update, day1)
    assert rebuilt is not None and np.array_equal(rebuilt.quantized, day2.quantized)
    # everything changed: the full prior is smaller than a delta of noise, so the full one goes
    unrelated = quantize(trend(9), version=3, day_unix_s=3 * DAY_S)
    assert encode_update(unrelated, day2).encoding == FULL


def test_refusals_keep_nothing_half_applied() -> None:
    v1 = quantize(trend(1), version=1, day_unix_s=DAY_S)
    v2 = quantize(drift(trend(1), 0.05, 2), version=2, day_unix_s=2 * DAY_S)
    v3 = quantize(drift(v2.values, 0.05, 3), version=3, day_unix_s=3 * DAY_S)
    assert apply_update(encode_update(v2, v1), v2) is None  # the same one again (a retained copy): nothing to do
    with pytest.raises(PriorRefused, match="older"):
        apply_update(encode_update(v1), v2)
    with pytest.raises(PriorRefused, match="out of order"):
        apply_update(encode_update(v3, v2), v1)  # v2 was missed
    small = quantize(trend(1)[:100], version=4, day_unix_s=4 * DAY_S)
    with pytest.raises(PriorRefused, match="catalogue"):
        apply_update(encode_update(small), v1)
    cut = encode_update(v2)
    cut.values = cut.values[: len(cut.values) // 2]
    with pytest.raises(PriorRefused, match="corrupt"):
        apply_update(cut, v1)
    short = encode_update(v2)
    short.values = zlib.compress(v2.quantized.tobytes()[:-1])
    with pytest.raises(PriorRefused, match="values"):
        apply_update(short, v1)


def test_bad_values_are_not_quantized() -> None:
    with pytest.raises(ValueError):
        quantize(np.array([0.5, np.nan]), version=1, day_unix_s=0)
    with pytest.raises(ValueError):
        quantize(np.array([0.5, -1.0]), version=1, day_unix_s=0)
