"""The device's prior: pushes swap it whole; refused ones leave it; a model swap keeps it only for the same catalogue."""

from __future__ import annotations

import numpy as np
import pytest

from core.prior import DAY_S, PriorRefused, encode_update, quantize
from edge.prior import PriorState


def prior(version: int, day: int, n: int = 50, seed: int = 0):
    return quantize(np.random.default_rng(seed).random(n), version=version, day_unix_s=day * DAY_S)


def test_pushes_swap_whole_and_refusals_keep_what_serves() -> None:
    shipped = prior(0, 10)
    state = PriorState(shipped)
    assert state.apply(encode_update(prior(1, 11, seed=1))) and state.current().version == 1
    assert not state.apply(encode_update(prior(1, 11, seed=1))), "a retained copy seen again changes nothing"
    with pytest.raises(PriorRefused):
        state.apply(encode_update(prior(0, 12)))
    assert state.current().version == 1 and state.current().age_days(14 * DAY_S) == 3.0


def test_a_model_swap_keeps_the_pushed_prior_only_for_the_same_catalogue() -> None:
    state = PriorState(prior(0, 10))
    state.apply(encode_update(prior(3, 20, seed=3)))
    state.rebase(prior(0, 15), same_catalogue=True)
    assert state.current().version == 3, "a newer pushed prior outlives a model swap on the same catalogue"
    state.rebase(prior(0, 25), same_catalogue=True)
    assert state.current().version == 0 and state.current().day_unix_s == 25 * DAY_S
    state.apply(encode_update(prior(4, 30, seed=4)))
    bigger = prior(0, 5, n=60)
    assert state.for_model(bigger) is bigger, "mid-swap, a model never gets a prior of another size"
    state.rebase(bigger, same_catalogue=False)
    assert state.current() is bigger
