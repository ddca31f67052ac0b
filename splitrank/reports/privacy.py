"""``splitrank report privacy``: what an observer of split calls learns of a customer's purchase history, and what
the private split mode costs in NDCG@10, on the held-out test split.

The leak share of a customer is the share of their history items (the distinct items the device holds for them at
a request, over all their requests) that appear among the candidate ids of their split calls, as if every request
took the split route; the report gives its mean over customers. Both modes are replayed through the shipped TFLite
edge step and the cloud reranker, and the private mode's answer is merged by ``edge.private_split``, as the agent
does. ``by_history_items`` is the trade-off: a private call that may still carry the edge's first m history items.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cloud.data.examples import Examples
from cloud.serving.scoring import ServingModels
from core.codec import INT8
from edge.cloud_request import split_request
from edge.private_split import PrivateSplit
from splitrank.reports.replay import Replay

HISTORY_ITEMS = (0, 1, 2, 5, 10, 20)
"""History items a private call may carry, for the trade-off curve."""


def leak_share(examples: Examples, candidate_ids: np.ndarray, sent: np.ndarray) -> tuple[float, int]:
    """Mean over customers of the share of their history items among the candidates ``sent`` (bool [E, K]) of their
    split calls, and the number of customers with a history."""
    seen: dict[int, tuple[set[int], set[int]]] = {}
    for row in range(len(examples)):
        history = examples.hist_items[row]
        items = set(history[history > 0].tolist())
        if not items:
            continue
        known, leaked = seen.setdefault(int(examples.user[row]), (set(), set()))
        known |= items
        leaked |= items & set(candidate_ids[row][sent[row]].tolist())
    shares = [len(leaked) / len(known) for known, leaked in seen.values()]
    return (float(np.mean(shares)) if shares else 0.0), len(shares)


def _call_bytes(replayed: Replay, sent: np.ndarray, k: int) -> float:
    """Mean bytes of the split calls (int8 u and scores, compact ids, as the agent sends them) that carry anything."""
    sizes = [split_request(PrivateSplit(ids, scores, mask).carried(u), k=k, model_version="1", unix_time_s=int(t), encoding=INT8).ByteSize()
             for u, ids, scores, mask, t in zip(replayed.user_embedding, replayed.candidate_ids, replayed.edge_scores, sent, replayed.unix_time_s,
                                                strict=True) if mask.any()]
    return float(np.mean(sizes)) if sizes else 0.0


def _mode(replayed: Replay, cloud: ServingModels, history_items: int | None, k: int) -> dict[str, Any]:
    """Leak, NDCG@10 and what is sent, with every candidate sent (``history_items`` None) or a private call's."""
    ids, scores = replayed.candidate_ids, replayed.edge_scores
    if history_items is None:
        sent = np.ones(ids.shape, bool)
        rankings = replayed.split_rankings(cloud)[:, :k]
    else:
        plans = [PrivateSplit.plan(row, row_scores, history, history_items)
                 for row, row_scores, history in zip(ids, scores, replayed.examples.hist_items, strict=True)]
        sent = np.stack([plan.sent for plan in plans])
        carried = replayed.split_rankings(cloud, sent=sent)
        rankings = np.stack([plan.merge(order[: plan.sent.sum()], k)[0] for plan, order in zip(plans, carried, strict=True)])
    leak, customers = leak_share(replayed.examples, ids, sent)
    return {"leak_share": leak, "ndcg_at_10": float(replayed.ndcg(rankings).mean()), "candidates_sent": float(sent.sum(1).mean()),
            "calls_with_nothing_to_send": float((~sent.any(1)).mean()), "call_bytes": _call_bytes(replayed, sent, k), "customers": customers}


def privacy_report(replayed: Replay, cloud: ServingModels, *, private_history_items: int = 0, k: int = 10,
                   history_items: tuple[int, ...] = HISTORY_ITEMS) -> dict[str, Any]:
    """The default (standard) split call against the private one that may carry ``private_history_items`` history items,
    with the edge's own NDCG@10 for reference and the trade-off over ``history_items``."""
    default = _mode(replayed, cloud, None, k)
    curve = {m: _mode(replayed, cloud, m, k) for m in sorted({*history_items, private_history_items})}
    private = curve[private_history_items]
    return {"examples": len(replayed.examples), "customers": default["customers"], "private_history_items": private_history_items,
            "default_leak_share": default["leak_share"], "private_leak_share": private["leak_share"],
            "default_ndcg_at_10": default["ndcg_at_10"], "private_ndcg_at_10": private["ndcg_at_10"],
            "local_ndcg_at_10": float(replayed.local_ndcg().mean()),
            "default_candidates_sent": default["candidates_sent"], "private_candidates_sent": private["candidates_sent"],
            "private_calls_with_nothing_to_send": private["calls_with_nothing_to_send"],
            "default_call_bytes": default["call_bytes"], "private_call_bytes": private["call_bytes"],
            "by_history_items": {str(m): {key: row[key] for key in ("leak_share", "ndcg_at_10", "candidates_sent")} for m, row in curve.items()}}
