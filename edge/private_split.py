"""The private split call: the cloud reranks only candidates that are not in the customer's history, so an
observer of split calls does not learn the purchase history from the candidate ids; the device merges the
repeats back in.

The edge's candidates hold every history item (the edge model puts repeats first), so the standard split call
names the whole history. A private call leaves them out, up to ``history_items`` of them (the edge's best first:
each one sent lets the cloud reorder it, and is one item an observer learns). The merge is by slot: every item
the call left out keeps its position in the edge's ranking, and the positions of the items it carried are
filled with the cloud's order of them. Scores are the edge's score of each position, so they fall with rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.edge_step import EdgeResult

SplitMode = Literal["standard", "private"]
"""What a split call carries: every candidate (``standard``), or none of the customer's history items (``private``)."""


class PrivateMergeError(ValueError):
    """The cloud's answer to a private split call cannot be merged: it names an item the call did not carry."""


@dataclass(frozen=True)
class PrivateSplit:
    """One private split call: the edge's candidates (best first), which of them the call carries, and the merge."""

    candidate_ids: np.ndarray
    candidate_scores: np.ndarray
    sent: np.ndarray
    """bool [K]: the candidates the call carries."""

    @classmethod
    def plan(cls, candidate_ids: np.ndarray, candidate_scores: np.ndarray, history_ids: np.ndarray, history_items: int = 0) -> PrivateSplit:
        """Carry every candidate that is not in ``history_ids`` (catalogue indices; 0 is padding and ignored) and the
        first ``history_items`` that are."""
        in_history = np.isin(candidate_ids, history_ids[history_ids > 0])
        sent = ~in_history | (np.cumsum(in_history) <= history_items)
        return cls(np.asarray(candidate_ids), np.asarray(candidate_scores), sent)

    @property
    def empty(self) -> bool:
        """True when there is nothing to send: every candidate is a history item the call may not carry."""
        return not self.sent.any()

    def carried(self, user_embedding: np.ndarray) -> EdgeResult:
        """What the call carries, as an edge result: u and the carried candidates in the edge's order."""
        return EdgeResult(user_embedding, self.candidate_ids[self.sent], self.candidate_scores[self.sent])

    def merge(self, cloud_ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` (ids, scores): the edge's ranking with the carried items' positions refilled in the cloud's order
        ``cloud_ids`` (best first; at least as many as the carried items among the edge's top ``k``)."""
        top = self.candidate_ids[:k].copy()
        slots = np.flatnonzero(self.sent[:k])
        cloud_ids = np.asarray(cloud_ids)
        carried = self.candidate_ids[self.sent]
        if not np.isin(cloud_ids, carried).all():
            raise PrivateMergeError("the cloud answered with items the private split call did not carry")
        distinct = len(np.unique(cloud_ids))
        if distinct != len(cloud_ids) or distinct < len(slots):
            raise PrivateMergeError(f"the cloud answered {len(cloud_ids)} items, {distinct} distinct; the merge needs {len(slots)} distinct")
        top[slots] = cloud_ids[: len(slots)]
        return top, self.candidate_scores[:k].copy()
