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


def test_the_model_feeds_each_prior_once_and_ranks_as_if_fed_every_time(tiny_bundle) -> None:
    from core.edge_step import EdgeStep
    from edge.model import EdgeModel

    model = EdgeModel(tiny_bundle)
    reference = EdgeStep(tiny_bundle / "edge" / "student_full_int8.tflite")  # fed its prior on every call
    shipped = model.shipped_prior
    pushed = quantize(shipped.values[::-1].copy(), version=1, day_unix_s=shipped.day_unix_s + DAY_S)  # popular items reversed
    items, age, count = model.encode_columns(model.codes[1:4], [1.0, 2.0, 3.0], [1.0, 1.0, 2.0])
    context = model.context(0, 3.0, 2, 3)
    seen = []
    for prior in (shipped, shipped, pushed, pushed, shipped):
        got = model.run(items, age, count, context, prior)
        want = reference.run(items, age, count, context, prior.values)
        np.testing.assert_array_equal(got.candidate_ids, want.candidate_ids)
        np.testing.assert_array_equal(got.candidate_scores, want.candidate_scores)
        seen.append(tuple(got.candidate_ids))
    assert seen[0] != seen[2], "the two priors rank differently (else this test shows nothing)"
    with pytest.raises(ValueError, match="read-only"):
        shipped.values[1] = 0.0
