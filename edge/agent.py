"""The app-facing EdgeAgent service: every request is answered by the edge step, and improved by a
cloud route when the router says it is worth it. A request never fails because the cloud did: on any
cloud failure, slowness or shedding the edge answer goes back, marked degraded, with the reason."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
import numpy as np

from core.codec import INT8, encode, encode_ids
from core.edge_step import EdgeResult
from core.errors import InvalidRequest
from core.gain_model import router_features
from core.prior import Prior
from core.routes import ROUTE_NAMES, ROUTES
from edge.history_store import HistoryStore
from edge.link import CloudCallFailed, CloudLink
from edge.model import EdgeModel, HistoryEntry
from edge.prior import PriorState
from edge.privacy import PrivacyConfig, privatize
from edge.resilience import RetryBudget
from edge.router import ROUTING_REASONS, Decision, Router
from protos.v1 import agent_pb2, agent_pb2_grpc, cloud_pb2


@dataclass
class AgentStats:
    """What the agent counts: route mix, degraded answers, invalid requests, edge model errors, the edge
    step's time (for the energy estimate) and the raw history bytes the cloud route sent."""

    routes: Counter[str] = field(default_factory=Counter)
    degraded: Counter[str] = field(default_factory=Counter)
    invalid: int = 0
    """Requests answered INVALID_ARGUMENT, undecodable bytes included."""
    errors: int = 0
    raw_history_bytes_sent: int = 0
    edge_us_total: float = 0.0

    def observe(self, route: str, edge_us: float) -> None:
        """Count one answered request."""
        self.routes[route] += 1
        self.edge_us_total += edge_us


@dataclass(frozen=True)
class AgentOptions:
    """Request defaults and the split route's wire format."""

    default_k: int = 10
    default_deadline_ms: float = 250.0
    max_deadline_ms: float = 60_000.0
    local_margin_ms: float = 10.0
    """Kept back from the app's deadline for answering locally when the cloud does not answer in time."""
    encoding: int = INT8
    split_candidates: int = 0
    """Candidates the split call carries (the edge's best first); 0 = all of them. Fewer means fewer bytes
    and less NDCG@10 (measured on Online Retail: 48 -1.2%, 32 -1.9% against 64)."""
    device_id: str = ""
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)


class EdgeAgentService(agent_pb2_grpc.EdgeAgentServicer):
    """Rank(): validate, edge step, route, maybe call the cloud, answer."""

    def __init__(self, model: EdgeModel, router: Router, links: list[CloudLink], histories: HistoryStore, options: AgentOptions) -> None:
        self.model = model
        self.router = router
        self.links = links
        self.histories = histories
        self.options = options
        self.prior = PriorState(model.shipped_prior)
        """The popularity prior fed to the model: the fleet's freshness push replaces it live."""
        self.stats = AgentStats()
        self.retry_budget = RetryBudget()
        self._rng = np.random.default_rng()

    def swap_model(self, model: EdgeModel) -> None:
        """Serve a new model version from the next request on (the fleet's atomic swap)."""
        self.prior.rebase(model.shipped_prior, same_catalogue=model.codes == self.model.codes)
        self.model = model
        if model.gain_model is not None:
            self.router.gain_model = model.gain_model

    async def Rank(self, request: agent_pb2.RankRequest, context: grpc.aio.ServicerContext) -> agent_pb2.RankResponse:
        """Rank items for one customer."""
        started = time.perf_counter()
        remaining = context.time_remaining()
        budget_s = min(remaining if remaining is not None else self.options.default_deadline_ms / 1000, self.options.max_deadline_ms / 1000)
        model = self.model
        prior = self.prior.for_model(model.shipped_prior)
        try:
            k, history, ctx_values = self._parse(request, model)
            items, age, count = model.encode_history(history)
            ctx = model.context(*ctx_values, distinct_items=len(history))
        except InvalidRequest as err:
            self.stats.invalid += 1
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        edge_started = time.perf_counter()
        try:
            result = model.run(items, age, count, ctx, prior)
            if result.candidate_ids.min() < 1 or result.candidate_ids.max() > model.catalogue_size:
                raise IndexError(f"candidate ids outside the catalogue 1..{model.catalogue_size}")  # a broken model, not bad input
        except (RuntimeError, ValueError, IndexError) as err:
            self.stats.errors += 1
            await context.abort(grpc.StatusCode.INTERNAL, f"edge model {model.version} failed: {type(err).__name__}: {err}")
        edge_us = (time.perf_counter() - edge_started) * 1e6
        forced = ROUTE_NAMES.get(request.route) if request.route else None
        router_started = time.perf_counter()
        features = None
        if forced is None and self.router.config.policy in ("threshold", "learned"):
            age_days = prior.age_days(ctx_values[0] or time.time())
            features = router_features(result.candidate_ids, result.candidate_scores, items, ctx, age_days)[0]
        decision = self.router.decide(features, forced, budget_s - (router_started - started), self.links)
        router_us = (time.perf_counter() - router_started) * 1e6
        local_k = min(k, len(result.candidate_ids))
        response = agent_pb2.RankResponse(route=ROUTES["local"], model_version=model.version)
        ids, scores = result.candidate_ids[:local_k], result.candidate_scores[:local_k]
        cloud_us = 0.0
        if decision.route != "local":
            cloud_started = time.perf_counter()
            answer, reason, link = await self._call_cloud(decision, model, prior, result, items, age, count, ctx_values, k, started, budget_s)
            cloud_us = (time.perf_counter() - cloud_started) * 1e6
            if answer is not None and (len(answer.item_ids) != len(answer.scores) or any(i < 1 or i > model.catalogue_size for i in answer.item_ids)):
                answer, reason = None, f"cloud {link.endpoint.name if link else ''}: answer names items outside model version {model.version}"
            if answer is not None and link is not None:
                ids, scores = np.asarray(answer.item_ids), np.asarray(answer.scores)
                response.route, response.cloud_endpoint = ROUTES[decision.route], link.endpoint.name
            else:
                response.degraded, response.degraded_reason = True, reason
        elif decision.reason and (forced or decision.reason not in ROUTING_REASONS or self.router.config.policy in ("split", "cloud")):
            # a cloud route the app or an always-cloud policy asked for, not taken; the learned and threshold policies
            # staying local because no cloud can answer in time (or none is configured) is routing, not degradation
            response.degraded, response.degraded_reason = True, decision.reason
        if response.degraded:
            self.stats.degraded[response.degraded_reason] += 1
        response.items.extend(agent_pb2.RankedItem(item_id=model.codes[int(i)], score=float(s)) for i, s in zip(ids, scores, strict=True))
        total_us = (time.perf_counter() - started) * 1e6
        response.timings.CopyFrom(agent_pb2.Timings(edge_us=round(edge_us), router_us=round(router_us), cloud_us=round(cloud_us),
                                                    total_us=round(total_us)))
        self.stats.observe(ROUTE_NAMES[response.route], edge_us)
        return response

    def _parse(self, request: agent_pb2.RankRequest, model: EdgeModel) -> tuple[int, list[HistoryEntry], tuple[int, float, int]]:
        k = request.k or self.options.default_k
        if k > model.catalogue_size:
            raise InvalidRequest(f"k is {k}; the catalogue of model version {model.version} has {model.catalogue_size} items")
        if request.route and request.route not in ROUTE_NAMES:
            raise InvalidRequest(f"unknown route {request.route}")
        ctx = request.context
        unix_time_s = int(ctx.unix_time_s)
        if unix_time_s < 0:
            raise InvalidRequest(f"context.unix_time_s must be >= 0 (0 = now), got {unix_time_s}")
        if request.WhichOneof("user") == "user_id":
            state = self.histories.state(request.user_id, unix_time_s or time.time())
            days = ctx.days_since_last_basket or state.days_since_last_basket
            return k, state.history, (unix_time_s, days, ctx.previous_baskets or state.previous_baskets)
        history = [HistoryEntry(item.item_id, item.age_days, item.count) for item in request.history.items]
        return k, history, (unix_time_s, ctx.days_since_last_basket, ctx.previous_baskets)

    async def _call_cloud(self, decision: Decision, model: EdgeModel, prior: Prior, result: EdgeResult, items: np.ndarray, age: np.ndarray,
                          count: np.ndarray, ctx_values: tuple[int, float, int], k: int, started: float,
                          budget_s: float) -> tuple[cloud_pb2.CloudRankResponse | None, str, CloudLink | None]:
        """The cloud's answer, or None with the reason; one failover within the retry budget."""
        message = self._cloud_request(decision.route, model, prior, result, items, age, count, ctx_values, k)
        link = decision.link
        self.retry_budget.earn()
        reason = ""
        for attempt in range(2):
            assert link is not None
            left = budget_s - (time.perf_counter() - started) - self.options.local_margin_ms / 1000
            if decision.timeout_s is not None:
                left = min(left, decision.timeout_s)
            if left <= 0:
                return None, reason or "deadline", None
            try:
                return await link.call(message, left), "", link
            except CloudCallFailed as err:
                reason = err.reason
            except asyncio.CancelledError:
                raise
            if attempt == 0 and self.retry_budget.spend():
                link = self.router.failover(link, budget_s - (time.perf_counter() - started), self.links)
                if link is None:
                    break
        return None, reason, None

    def _cloud_request(self, route: str, model: EdgeModel, prior: Prior, result: EdgeResult, items: np.ndarray, age: np.ndarray,
                       count: np.ndarray, ctx_values: tuple[int, float, int], k: int) -> cloud_pb2.RerankRequest | cloud_pb2.FullRankRequest:
        opts = self.options
        if route == "split":
            u = privatize(result.user_embedding, opts.privacy, self._rng)
            sent = opts.split_candidates or len(result.candidate_ids)
            ids, order = encode_ids(result.candidate_ids[:sent])
            scores = encode(result.candidate_scores[:sent][order], opts.encoding).to_proto()
            return cloud_pb2.RerankRequest(user_embedding=encode(u, opts.encoding).to_proto(),
                                           compact_candidates=cloud_pb2.CompactCandidates(ids_delta=ids, scores=scores),
                                           k=min(k, len(order)), model_version=model.version,
                                           unix_time_s=ctx_values[0], device_id=opts.device_id,
                                           prior_version=prior.version, prior_day_unix_s=prior.day_unix_s)
        valid = items > 0
        history = [cloud_pb2.CloudHistoryItem(item_id=int(i), age_days=float(a), count=float(c))
                   for i, a, c in zip(items[valid], age[valid], count[valid], strict=True)]
        message = cloud_pb2.FullRankRequest(history=history, k=k, model_version=model.version, device_id=opts.device_id)
        message.context.unix_time_s, message.context.days_since_last_basket, message.context.previous_baskets = ctx_values
        self.stats.raw_history_bytes_sent += sum(h.ByteSize() for h in history)
        return message
