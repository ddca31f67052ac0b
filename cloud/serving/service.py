"""The CloudRanker gRPC service: validate, batch, compute, answer with a load hint.

Status codes carry the meaning: INVALID_ARGUMENT (what is wrong), NOT_FOUND (unknown pinned version),
RESOURCE_EXHAUSTED (queue full; trailing metadata ``retry-after-ms``), DEADLINE_EXCEEDED (less than
the minimum time left on arrival, or the deadline passed while queued; nothing was computed), UNAVAILABLE (no model loaded yet, or draining).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import grpc
import numpy as np

from cloud.serving.batcher import DeadlineExpired, DynamicBatcher, QueueFull
from cloud.serving.metrics import ServerMetrics
from cloud.serving.repository import ModelRepository, UnknownVersion
from cloud.serving.scoring import ServingModels
from cloud.serving.validation import FullInput, RerankInput, validate_full, validate_rerank
from core.errors import InvalidRequest
from protos.v1 import cloud_pb2, cloud_pb2_grpc, common_pb2

T = TypeVar("T", RerankInput, FullInput)
O = TypeVar("O")


def _by_model(items: list[T], run: Callable[[list[T]], list[O]]) -> list[O]:
    """Run a mixed batch per model version (pinned requests may differ), keeping order."""
    if len(items) == 1 or all(item.models is items[0].models for item in items):
        return run(items)
    groups: dict[int, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[id(item.models)].append(index)
    out: dict[int, O] = {}
    for indices in groups.values():
        out.update(zip(indices, run([items[i] for i in indices]), strict=True))
    return [out[index] for index in range(len(items))]


def _rerank_batch(items: list[RerankInput]) -> list[list[float]]:
    return items[0].models.rerank_calls(items)


def _full_batch(items: list[FullInput]) -> list[np.ndarray]:
    models = items[0].models
    logits = models.rank_full(np.stack([i.items for i in items]), np.stack([i.age for i in items]), np.stack([i.count for i in items]),
                              np.stack([i.context for i in items]), np.array([i.unix_time_s for i in items]))
    return list(logits)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best scores, best first (stable on ties)."""
    if len(scores) <= 256:  # a small catalogue: one sort is cheaper than a partition and a sort
        return np.argsort(-scores, kind="stable")[:k]
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.argsort(-scores[part], kind="stable")]


def answer_rerank(item: RerankInput, values: list[float]) -> tuple[list[int], list[float]]:
    """The split route's answer: the k best candidates (ids, scores), best first, ties in candidate order. Sorted in
    plain Python: a few dozen candidates sort faster so than through the numpy calls that would do it."""
    best = sorted(range(len(values)), key=values.__getitem__, reverse=True)[: item.k]  # reverse keeps ties in order
    return [item.ids[i] for i in best], [values[i] for i in best]


def answer_full(item: FullInput, logits: np.ndarray) -> tuple[list[int], list[float]]:
    """The cloud route's answer: the k best catalogue items (ids, scores), never the padding id 0."""
    logits = logits.copy()
    logits[0] = -np.inf
    best = top_k(logits, item.k)
    return best.tolist(), logits[best].tolist()


class Refusal(Exception):
    """A call that cannot be served: the status code, the message that says why, trailing metadata."""

    def __init__(self, code: grpc.StatusCode, message: str, trailers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.code, self.message, self.trailers = code, message, trailers

    async def abort(self, context: grpc.aio.ServicerContext) -> NoReturn:
        """End the call with this status."""
        if self.trailers:
            context.set_trailing_metadata(self.trailers)
        await context.abort(self.code, self.message)
        raise AssertionError("unreachable: abort raises")


def refusal_for(err: Exception) -> Refusal:
    """The status a call gets when its batcher could not run it."""
    if isinstance(err, QueueFull):
        return Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, f"overloaded: {err}",
                       (("retry-after-ms", str(max(1, round(err.retry_after_s * 1000)))),))
    if isinstance(err, DeadlineExpired):
        return Refusal(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed while queued; nothing was computed")
    return Refusal(grpc.StatusCode.INTERNAL, f"model call failed: {type(err).__name__}: {err}")  # the server's fault, said plainly


class CloudRankerService(cloud_pb2_grpc.CloudRankerServicer):
    """Split and full ranking over a model repository, each behind its own dynamic batcher."""

    def __init__(self, repository: ModelRepository, metrics: ServerMetrics, *, max_batch_size: int, max_delay_s: float,
                 max_queue: int, max_request_bytes: int, max_queue_wait_s: float = 0.05, min_time_left_s: float = 0.001) -> None:
        self.repository = repository
        self.min_time_left_s = min_time_left_s
        self.metrics = metrics
        self.max_request_bytes = max_request_bytes
        self.rerank_batcher: DynamicBatcher[RerankInput, list[float]] = DynamicBatcher(
            lambda items: _by_model(items, _rerank_batch), max_batch_size=max_batch_size, max_delay_s=max_delay_s,
            max_queue=max_queue, max_queue_wait_s=max_queue_wait_s, observer=metrics.observer("reranker"))
        self.full_batcher: DynamicBatcher[FullInput, np.ndarray] = DynamicBatcher(
            lambda items: _by_model(items, _full_batch), max_batch_size=max_batch_size, max_delay_s=max_delay_s,
            max_queue=max_queue, max_queue_wait_s=max_queue_wait_s, observer=metrics.observer("teacher"))
        self.draining = False

    async def Rerank(self, request: cloud_pb2.RerankRequest, context: grpc.aio.ServicerContext) -> cloud_pb2.CloudRankResponse:
        """Split route."""
        return await self._serve("Rerank", request, context, validate_rerank, self.rerank_batcher, answer_rerank)

    async def RankFull(self, request: cloud_pb2.FullRankRequest, context: grpc.aio.ServicerContext) -> cloud_pb2.CloudRankResponse:
        """Cloud route."""
        return await self._serve("RankFull", request, context, validate_full, self.full_batcher, answer_full)

    def admit(self, context: grpc.aio.ServicerContext, version: str) -> tuple[ServingModels, float | None]:
        """The models a call runs on and its absolute deadline; raises Refusal when it cannot be served."""
        remaining = context.time_remaining()
        if remaining is not None and remaining < self.min_time_left_s:
            raise Refusal(grpc.StatusCode.DEADLINE_EXCEEDED, f"{max(remaining, 0) * 1000:.3f} ms left on arrival, under the "
                                                             f"{self.min_time_left_s * 1000:.1f} ms minimum; nothing was computed")
        if self.draining:
            raise Refusal(grpc.StatusCode.UNAVAILABLE, "server is draining; retry on another replica")
        try:
            models = self.repository.get(version)
        except UnknownVersion as err:
            raise Refusal(grpc.StatusCode.NOT_FOUND if version else grpc.StatusCode.UNAVAILABLE, str(err.args[0])) from None
        return models, None if remaining is None else time.monotonic() + remaining

    async def _serve(self, method: str, request: Any, context: grpc.aio.ServicerContext, validate: Callable[..., Any],
                     batcher: DynamicBatcher[Any, Any], answer: Callable[[Any, Any], tuple[list[int], list[float]]]
                     ) -> cloud_pb2.CloudRankResponse:
        try:
            models, deadline = self.admit(context, request.model_version)
            try:
                item = validate(request, models, max_bytes=self.max_request_bytes)
            except InvalidRequest as err:
                raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(err)) from None
            try:
                timed = await batcher.submit_timed(item, deadline=deadline)
            except Exception as err:
                raise refusal_for(err) from err
        except Refusal as refusal:
            self.metrics.count(method, refusal.code.name)
            await refusal.abort(context)
        ids, values = answer(item, timed.output)
        load = batcher.load()
        self.metrics.count(method, "OK")
        return cloud_pb2.CloudRankResponse(
            item_ids=ids, scores=values, model_version=models.version,
            load=common_pb2.LoadHint(queue_depth=load.queue_depth, estimated_wait_ms=load.estimated_wait_s * 1000,
                                     queue_capacity=load.queue_capacity),
            queue_ms=timed.queue_s * 1000, compute_ms=timed.compute_s * 1000)
