"""The private split call's plan and merge: no history item is carried unless allowed, and the merge keeps every
item the call left out in its edge position."""

from __future__ import annotations

import numpy as np
import pytest

from edge.private_split import PrivateMergeError, PrivateSplit

IDS = np.array([7, 3, 9, 4, 8, 5, 2, 6], np.int32)  # the edge's candidates, best first
SCORES = np.linspace(2.0, 0.6, 8).astype(np.float32)
HISTORY = np.array([3, 4, 5, 0, 0], np.int32)  # padded with 0


def test_the_plan_carries_no_history_item_and_keeps_the_edge_order() -> None:
    plan = PrivateSplit.plan(IDS, SCORES, HISTORY)
    carried = plan.carried(np.ones(4, np.float32))
    assert carried.candidate_ids.tolist() == [7, 9, 8, 2, 6]
    np.testing.assert_array_equal(carried.candidate_scores, SCORES[[0, 2, 4, 6, 7]])
    assert not plan.empty


def test_history_items_allowed_are_the_edges_best_first() -> None:
    assert PrivateSplit.plan(IDS, SCORES, HISTORY, history_items=2).carried(np.ones(4)).candidate_ids.tolist() == [7, 3, 9, 4, 8, 2, 6]
    assert PrivateSplit.plan(IDS, SCORES, HISTORY, history_items=99).sent.all()


def test_a_plan_of_history_items_only_is_empty() -> None:
    assert PrivateSplit.plan(IDS[[1, 3, 5]], SCORES[:3], HISTORY).empty


def test_the_merge_keeps_repeats_in_place_and_fills_the_rest_in_the_clouds_order() -> None:
    plan = PrivateSplit.plan(IDS, SCORES, HISTORY)
    ids, scores = plan.merge(np.array([6, 8, 7]), k=5)  # slots 0, 2, 4 of the top 5 were carried
    assert ids.tolist() == [6, 3, 8, 4, 7]
    np.testing.assert_array_equal(scores, SCORES[:5])  # the edge's score of each position: falling with rank


@pytest.mark.parametrize("reply", [[6, 3, 7], [6, 6, 7], [6, 8]], ids=["a repeat the call did not carry", "a duplicate", "too few"])
def test_a_reply_that_cannot_be_merged_is_refused(reply: list[int]) -> None:
    with pytest.raises(PrivateMergeError):
        PrivateSplit.plan(IDS, SCORES, HISTORY).merge(np.array(reply), k=5)
