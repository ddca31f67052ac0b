"""The device's two cloud calls, built in one place: the split call (u and the edge's candidates; the
history stays on the device) and the full call (the raw history, for the cloud teacher)."""

from __future__ import annotations

import numpy as np

from core.codec import INT8, encode, encode_ids
from core.edge_step import EdgeResult
from core.prior import Prior
from protos.v1 import cloud_pb2


def split_request(result: EdgeResult, *, k: int, model_version: str, unix_time_s: int, device_id: str = "", encoding: cloud_pb2.EmbeddingEncoding = INT8,
                  candidates: int = 0, user_embedding: np.ndarray | None = None, score_encoding: cloud_pb2.EmbeddingEncoding | None = None,
                  compact: bool = True, prior: Prior | None = None) -> cloud_pb2.RerankRequest:
    """Rerank: u encoded with ``encoding`` (``user_embedding`` replaces the edge's u, e.g. with privacy noise),
    the first ``candidates`` candidates (0 = all) sorted and delta-coded with their scores encoded like u
    (or with ``score_encoding``), or as plain id and score lists when not ``compact``; the version and day of the
    ``prior`` the edge ranked with, so the reranker corrects only what is left."""
    u = result.user_embedding if user_embedding is None else user_embedding
    sent = candidates or len(result.candidate_ids)
    ids, scores = result.candidate_ids[:sent], result.candidate_scores[:sent]
    embedding, k = encode(u, encoding).to_proto(), min(k, len(ids))
    prior_version, prior_day = (prior.version, prior.day_unix_s) if prior is not None else (0, 0)
    if not compact:
        return cloud_pb2.RerankRequest(user_embedding=embedding, candidate_ids=ids.tolist(), edge_scores=scores.tolist(), k=k,
                                       model_version=model_version, unix_time_s=unix_time_s, device_id=device_id,
                                       prior_version=prior_version, prior_day_unix_s=prior_day)
    delta, order = encode_ids(ids)
    packed = encode(scores[order], encoding if score_encoding is None else score_encoding).to_proto()
    return cloud_pb2.RerankRequest(user_embedding=embedding, compact_candidates=cloud_pb2.CompactCandidates(ids_delta=delta, scores=packed), k=k,
                                   model_version=model_version, unix_time_s=unix_time_s, device_id=device_id,
                                   prior_version=prior_version, prior_day_unix_s=prior_day)


def full_request(items: np.ndarray, age: np.ndarray, count: np.ndarray, *, k: int, model_version: str, unix_time_s: int,
                 days_since_last_basket: float, previous_baskets: int, device_id: str = "") -> cloud_pb2.FullRankRequest:
    """RankFull: the padded history arrays (ids > 0 are sent) and the request context."""
    valid = items > 0
    history = [cloud_pb2.CloudHistoryItem(item_id=int(i), age_days=float(a), count=float(c))
               for i, a, c in zip(items[valid], age[valid], count[valid], strict=True)]
    message = cloud_pb2.FullRankRequest(history=history, k=k, model_version=model_version, device_id=device_id)
    message.context.unix_time_s, message.context.days_since_last_basket, message.context.previous_baskets = (
        unix_time_s, days_since_last_basket, previous_baskets)
    return message
