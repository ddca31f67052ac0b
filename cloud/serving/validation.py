"""Request checks: every problem becomes INVALID_ARGUMENT with a message that says what is wrong."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from core.codec import CodecError, check, decode, decode_ids
from core.errors import InvalidRequest
from core.features import MAX_UNIX_TIME_S, history_arrays, request_context
from protos.v1 import cloud_pb2

if TYPE_CHECKING:
    from cloud.serving.scoring import ServingModels


class RerankInput(NamedTuple):
    """A validated split call (a tuple: made once per call, it costs less than a frozen dataclass)."""

    models: ServingModels
    user: cloud_pb2.QuantizedEmbedding
    """Checked, still encoded: the model decodes a batch's embeddings together."""
    ids: list[int]
    edge_scores: list[float]
    """Candidates and their edge scores as plain lists: the model builds its arrays once, for all the calls of a batch."""
    unix_time_s: int
    k: int
    prior_day_unix_s: int = 0
    """The day of the popularity prior the device's edge model was fed; 0 = its release's."""


@dataclass(frozen=True)
class FullInput:
    """A validated cloud-route call, as the teacher's input arrays."""

    models: ServingModels
    items: np.ndarray
    age: np.ndarray
    count: np.ndarray
    context: np.ndarray
    unix_time_s: int
    k: int


def _check_size(request: object, max_bytes: int) -> None:
    size = request.ByteSize()  # type: ignore[attr-defined]
    if size > max_bytes:
        raise InvalidRequest(f"request is {size} bytes, the limit is {max_bytes}")


def validate_rerank(request: cloud_pb2.RerankRequest, models: ServingModels, *, max_bytes: int) -> RerankInput:
    """Check a split call against the model version it will run on."""
    _check_size(request, max_bytes)
    ids, scores = _candidates(request, models)
    if not request.HasField("user_embedding"):
        raise InvalidRequest("user_embedding is missing")
    user = request.user_embedding
    try:
        check(user)
    except CodecError as err:
        raise InvalidRequest(f"user_embedding: {err}") from err
    if user.dim != models.embedding_dim:
        raise InvalidRequest(f"user_embedding has dim {user.dim}, model version {models.version} expects {models.embedding_dim}")
    if len(ids) > models.candidates:
        raise InvalidRequest(f"{len(ids)} candidates, at most {models.candidates}")
    if min(ids) < 1 or max(ids) >= models.catalogue_size:
        bad = [i for i in ids if not 1 <= i < models.catalogue_size]
        raise InvalidRequest(f"unknown candidate ids {bad[:5]} (catalogue has ids 1..{models.catalogue_size - 1})")
    if len(set(ids)) != len(ids):
        raise InvalidRequest(f"duplicate candidate ids {sorted(i for i, n in Counter(ids).items() if n > 1)[:5]}")
    if len(scores) != len(ids):
        raise InvalidRequest(f"{len(scores)} edge_scores for {len(ids)} candidate_ids: send one score per candidate")
    if not math.isfinite(sum(scores)):  # float32 values cannot overflow a float64 sum: only NaN or inf make it so
        raise InvalidRequest("edge_scores contain NaN or infinite values")
    if request.k < 1 or request.k > len(ids):
        raise InvalidRequest(f"k is {request.k}; it must be between 1 and the number of candidates ({len(ids)})")
    if not 0 <= request.unix_time_s <= MAX_UNIX_TIME_S:
        raise InvalidRequest(f"unix_time_s must be between 0 (= now) and {MAX_UNIX_TIME_S}, got {request.unix_time_s}")
    if not 0 <= request.prior_day_unix_s <= MAX_UNIX_TIME_S:
        raise InvalidRequest(f"prior_day_unix_s must be between 0 (= the edge release's prior) and {MAX_UNIX_TIME_S}, got {request.prior_day_unix_s}")
    return RerankInput(models, user, ids, scores, request.unix_time_s, request.k, request.prior_day_unix_s)


def _candidates(request: cloud_pb2.RerankRequest, models: ServingModels) -> tuple[list[int], list[float]]:
    """(ids, edge scores) from the plain or the compact form, as Python lists: the checks on a few dozen
    candidates cost less in plain Python than in numpy calls, and the ids must be in range before an int32 array holds them."""
    if not request.HasField("compact_candidates"):
        if not request.candidate_ids:
            raise InvalidRequest("no candidate_ids: a split call reranks the edge candidates")
        return list(request.candidate_ids), list(request.edge_scores)
    if request.candidate_ids or request.edge_scores:
        raise InvalidRequest("send candidate_ids + edge_scores or compact_candidates, not both")
    compact = request.compact_candidates
    try:
        ids = decode_ids(compact.ids_delta, max_count=models.candidates)
        scores = decode(compact.scores).tolist() if compact.HasField("scores") else []
    except CodecError as err:
        raise InvalidRequest(f"compact_candidates: {err}") from None
    if not ids:
        raise InvalidRequest("no candidate ids in compact_candidates: a split call reranks the edge candidates")
    return ids, scores


def validate_full(request: cloud_pb2.FullRankRequest, models: ServingModels, *, max_bytes: int) -> FullInput:
    """Check a cloud-route call; the history is truncated to the model's history length (most recent first)."""
    _check_size(request, max_bytes)
    if request.k < 1 or request.k >= models.catalogue_size:
        raise InvalidRequest(f"k is {request.k}; it must be between 1 and the catalogue size ({models.catalogue_size - 1})")
    history = list(request.history)[: models.history_len]
    for slot, entry in enumerate(history):
        if not 1 <= entry.item_id < models.catalogue_size:
            raise InvalidRequest(f"history[{slot}].item_id {entry.item_id} is not in the catalogue (1..{models.catalogue_size - 1})")
    items, age, count = history_arrays([(h.item_id, h.item_id, h.age_days, h.count) for h in history], models.history_len)
    ctx = request.context
    context = request_context(ctx.unix_time_s, ctx.days_since_last_basket, ctx.previous_baskets, len(history))
    return FullInput(models, items, age, count, context, int(ctx.unix_time_s), int(request.k))
