"""``splitrank.EdgeRanker``: the edge step and the router inside the caller's process, the cloud over a real
socket (the tiny bundle's cloud server); the same ``Ranking`` as the SDK's ``Client``."""

from __future__ import annotations

from pathlib import Path

import pytest

from splitrank import EdgeRanker, InvalidRequestError, Ranking
from tests.cloud.server_thread import ServerThread
from tests.histories import catalogue_history

pytestmark = pytest.mark.slow


def test_every_route_in_process(tiny_bundle: Path, cloud: ServerThread) -> None:
    with EdgeRanker(tiny_bundle, policy="local", cloud=f"c0=127.0.0.1:{cloud.running.port}") as ranker:
        local = ranker.rank(catalogue_history(tiny_bundle), k=5)
        assert isinstance(local, Ranking) and (local.route, local.degraded, len(local.item_ids)) == ("local", False, 5)
        assert local.timings.edge_us > 0 and local.timings.total_us >= local.timings.edge_us
        as_dicts = ranker.rank([{"item_id": i, "age_days": a, "count": c} for i, a, c in catalogue_history(tiny_bundle)], k=5)
        assert as_dicts.item_ids == local.item_ids
        split = ranker.rank(catalogue_history(tiny_bundle), k=5, deadline_s=5, route="split", value=3.0)
        assert (split.route, split.degraded, split.cloud_endpoint) == ("split", False, "c0"), split.degraded_reason
        assert split.scores == sorted(split.scores, reverse=True)
        full = ranker.rank(catalogue_history(tiny_bundle), k=7, deadline_s=5, route="cloud")
        assert (full.route, full.degraded, len(full.item_ids)) == ("cloud", False, 7), full.degraded_reason
        assert ranker.engine.stats.routes == {"local": 2, "split": 1, "cloud": 1}


def test_bad_input_is_the_sdks_error(tiny_bundle: Path) -> None:
    with EdgeRanker(tiny_bundle, policy="local") as ranker:
        with pytest.raises(InvalidRequestError, match="not in the catalogue"):
            ranker.rank([("NO-SUCH-ITEM", 1.0, 1.0)])
        with pytest.raises(InvalidRequestError, match="unknown keys"):
            ranker.rank([], context={"weather": "rain"})
        with pytest.raises(InvalidRequestError, match="route"):
            ranker.rank([], route="moon")
        assert ranker.rank(user_id="never-seen").route == "local"  # unknown customer: the popularity prior
        split = ranker.rank(catalogue_history(tiny_bundle), route="split")  # no cloud configured: the edge answer, degraded
        assert split.degraded and split.degraded_reason == "no cloud endpoint configured"


def test_private_split_in_process_keeps_the_repeats_where_the_edge_ranks_them(tiny_bundle: Path, cloud: ServerThread) -> None:
    history = catalogue_history(tiny_bundle, 12)
    repeats = {code for code, _, _ in history}
    with EdgeRanker(tiny_bundle, policy="local", cloud=f"c0=127.0.0.1:{cloud.running.port}", split_mode="private") as ranker:
        local = ranker.rank(history, k=10)
        split = ranker.rank(history, k=10, deadline_s=5, route="split")
    assert (split.route, split.degraded) == ("split", False), split.degraded_reason
    assert [(rank, code) for rank, code in enumerate(split.item_ids) if code in repeats] == \
        [(rank, code) for rank, code in enumerate(local.item_ids) if code in repeats]
    assert split.scores == local.scores  # the edge's score of each position
