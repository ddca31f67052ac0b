"""Histories kept on the device, read by user id in the documented file format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.history_store import HistoryStore
from edge.model import HistoryEntry

DAY = 86400.0


def test_a_customer_state_is_read_most_recent_first(tmp_path: Path) -> None:
    path = tmp_path / "histories.json"
    path.write_text(json.dumps({"users": {"17850": {"baskets": 3, "last_unix_s": 10 * DAY,
                                                    "items": {"85123A": [4 * DAY, 2], "22423": [10 * DAY, 1]}}}}))
    store = HistoryStore(path)
    state = store.state("17850", 12 * DAY)
    assert len(store) == 1
    assert state.history == [HistoryEntry("22423", 2.0, 1.0), HistoryEntry("85123A", 8.0, 2.0)]
    assert (state.previous_baskets, state.days_since_last_basket) == (3, 2.0)
    assert store.state("someone-else", 12 * DAY).history == []  # unknown customer: the model ranks by popularity


def test_a_file_that_is_not_a_history_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "histories.json"
    path.write_text(json.dumps({"customers": {}}))
    with pytest.raises(ValueError, match="not a splitrank history file"):
        HistoryStore(path)
