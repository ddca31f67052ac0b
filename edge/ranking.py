"""One request through the device, whatever carries it (the agent's gRPC service or an app's own process):
validate, run the edge step, let the router decide, call the cloud when it says so, answer.

The answer always comes before the app's deadline, with the best ranking the device has by then: when
the cloud is late, fails or sheds, that is the edge's own, marked degraded with the reason. The wait for
the cloud ends ``DeadlineMargin.seconds()`` before the deadline, a margin that adapts to the agent's own
measured tail. The router owns routing: ``RankingEngine`` runs its decision and never re-decides.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.codec import INT8
from core.edge_step import EdgeResult
from core.errors import InvalidRequest
from core.prior import Prior
from edge.cloud_request import full_request, split_request
from edge.deadline import DeadlineMargin
from edge.history_store import HistoryStore
from edge.link import CloudCallFailed, CloudLink
from edge.model import EdgeModel
from edge.prior import PriorState
from edge.privacy import PrivacyConfig, privatize
from edge.private_split import PrivateMergeError, PrivateSplit, SplitMode
from edge.resilience import RetryBudget
from edge.router import Decision, Router, RouteSignals
from protos.v1 import cloud_pb2

LATENCY_BUCKETS_MS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
DEADLINE = "deadline"
"""The degraded reason when the cloud had not answered when the agent had to."""


class EdgeModelFailed(RuntimeError):
    """The edge model itself failed on a valid request (a broken model, not bad input)."""


@dataclass
class AgentStats:
    """What the agent reports as telemetry: route mix, latency histogram, bytes, errors."""

    routes: Counter[str] = field(default_factory=Counter)
    degraded: Counter[str] = field(default_factory=Counter)
    invalid: int = 0
    errors: int = 0
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) + 1))
    raw_history_bytes_sent: int = 0
    edge_us_total: float = 0.0

    def observe(self, answer: Answer) -> None:
        """Count one answered request."""
        self.routes[answer.route] += 1
        if answer.degraded:
            self.degraded[answer.degraded_reason] += 1
        self.edge_us_total += answer.edge_us
        self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS_MS, answer.total_us / 1000)] += 1


@dataclass(frozen=True)
class AgentOptions:
    """Request defaults and the split route's wire format."""

    default_k: int = 10
    default_deadline_ms: float = 250.0
    max_deadline_ms: float = 60_000.0
    encoding: cloud_pb2.EmbeddingEncoding = INT8
    split_candidates: int = 0
    """Candidates the split call carries (the edge's best first); 0 = all of them. Fewer means fewer bytes
    and less NDCG@10 (measured on Online Retail: 48 -1.2%, 32 -1.9% against 64)."""
    device_id: str = ""
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    split_mode: SplitMode = "standard"
    """``private``: split calls carry none of the customer's history items (see ``edge.private_split``)."""
    private_history_items: int = 0
    """History items a private split call may still carry, the edge's best first (each one leaks, each one gains NDCG)."""


@dataclass(frozen=True)
class RankQuery:
    """One request as the device reads it: a history (parallel columns, most recent first) or a user id whose
    history the device keeps, the context, k (0 = default), a forced route (None = the router's choice), the
    app's value of the request (0 = unknown) and its deadline in seconds from ``started`` (None = default)."""

    item_ids: Sequence[str]
    age_days: Sequence[float]
    counts: Sequence[float]
    user_id: str | None = None
    unix_time_s: int = 0
    days_since_last_basket: float = 0.0
    previous_baskets: int = 0
    k: int = 0
    route: str | None = None
    value: float = 0.0
    deadline_s: float | None = None


@dataclass
class Answer:
    """A ranking as catalogue indices, where it came from and where the time went (microseconds)."""

    ids: np.ndarray
    scores: np.ndarray
    route: str
    model_version: str
    degraded: bool = False
    degraded_reason: str = ""
    cloud_endpoint: str = ""
    edge_us: float = 0.0
    router_us: float = 0.0
    cloud_us: float = 0.0
    total_us: float = 0.0
    item_codes: list[str] = field(default_factory=list)
    """``ids`` as the catalogue's item codes (filled when the answer is final)."""


@dataclass
class Prepared:
    """A request after the edge step and the router: the local answer, and the cloud call to try when the route is not local."""

    query: RankQuery
    model: EdgeModel
    prior: Prior
    result: EdgeResult
    items: np.ndarray
    age: np.ndarray
    count: np.ndarray
    context: tuple[int, float, int]
    k: int
    decision: Decision
    local: Answer
    started: float
    deadline_at: float
    """perf_counter() time of the app's deadline."""


class RankingEngine:
    """The device's request path, shared by the gRPC agent and the in-process ranker. ``prepare`` is plain
    code (no event loop: the local route never needs one); ``finish`` awaits the cloud. Not thread-safe."""

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
        self.margin = DeadlineMargin()
        self._rng = np.random.default_rng()

    def swap_model(self, model: EdgeModel) -> None:
        """Serve a new model version from the next request on (the fleet's atomic swap)."""
        self.prior.rebase(model.shipped_prior, same_catalogue=model.codes == self.model.codes)
        self.model = model
        if model.gain_model is not None:
            self.router.gain_model = model.gain_model

    def prepare(self, query: RankQuery, started: float) -> Prepared:
        """Validate, edge step, route. Raises InvalidRequest (bad request) or EdgeModelFailed (broken model)."""
        model, opts = self.model, self.options
        prior = self.prior.for_model(model.shipped_prior)
        budget_s = min(opts.default_deadline_ms / 1000 if query.deadline_s is None else query.deadline_s, opts.max_deadline_ms / 1000)
        try:
            k, items, age, count, context, distinct = self._inputs(query, model)
            ctx = model.context(*context, distinct_items=distinct)
        except InvalidRequest:
            self.stats.invalid += 1
            raise
        edge_started = time.perf_counter()
        try:
            result = model.run(items, age, count, ctx, prior)
            candidates = result.candidate_ids.tolist()  # Python's min and max over a few dozen ints beat two numpy reductions
            if min(candidates) < 1 or max(candidates) > model.catalogue_size:
                raise IndexError(f"candidate ids outside the catalogue 1..{model.catalogue_size}")
        except (RuntimeError, ValueError, IndexError) as err:
            self.stats.errors += 1
            raise EdgeModelFailed(f"edge model {model.version} failed: {type(err).__name__}: {err}") from err
        router_started = time.perf_counter()
        signals = None
        if self.router.needs_signals(query.route):
            now_s = context[0] or time.time()
            signals = RouteSignals(result, items, ctx, prior_age_days=prior.age_days(now_s),
                                   model_age_days=max(now_s - model.release_unix_s, 0) / 86400, value=query.value)
        deadline_at = started + budget_s
        decision = self.router.decide(signals, query.route, deadline_at - router_started - self.margin.seconds(), self.links)
        done = time.perf_counter()
        local_k = min(k, len(result.candidate_ids))
        local = Answer(result.candidate_ids[:local_k], result.candidate_scores[:local_k], "local", model.version,
                       degraded=decision.degraded, degraded_reason=decision.reason if decision.degraded else "",
                       edge_us=(router_started - edge_started) * 1e6, router_us=(done - router_started) * 1e6)
        return Prepared(query, model, prior, result, items, age, count, context, k, decision, local, started, deadline_at)

    def _inputs(self, query: RankQuery, model: EdgeModel) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, tuple[int, float, int], int]:
        """k, the padded history arrays, the context values and the count of distinct items in the history."""
        k = query.k or self.options.default_k
        if k > model.catalogue_size:
            raise InvalidRequest(f"k is {k}; the catalogue of model version {model.version} has {model.catalogue_size} items")
        unix_time_s = int(query.unix_time_s)
        if unix_time_s < 0:
            raise InvalidRequest(f"context.unix_time_s must be >= 0 (0 = now), got {unix_time_s}")
        if query.user_id is not None:
            state = self.histories.state(query.user_id, unix_time_s or time.time())
            items, age, count = model.encode_history(state.history)
            days = query.days_since_last_basket or state.days_since_last_basket
            return k, items, age, count, (unix_time_s, days, query.previous_baskets or state.previous_baskets), len(state.history)
        if not len(query.item_ids) == len(query.age_days) == len(query.counts):
            raise InvalidRequest(f"history: {len(query.item_ids)} item ids, {len(query.age_days)} ages and {len(query.counts)} counts; one each per item")
        items, age, count = model.encode_columns(query.item_ids, query.age_days, query.counts)
        return k, items, age, count, (unix_time_s, query.days_since_last_basket, query.previous_baskets), len(query.item_ids)

    def answer_locally(self, prepared: Prepared) -> Answer:
        """The local answer, counted (the route the router chose, or the degraded fallback it named)."""
        return self._done(prepared, prepared.local)

    async def finish(self, prepared: Prepared) -> Answer:
        """The cloud's answer, or the edge's marked degraded when the cloud fails or would answer after the margin."""
        decision, local = prepared.decision, prepared.local
        if decision.route == "local":
            return self.answer_locally(prepared)
        private = self._private_split(prepared)
        if private is not None and private.empty:
            return self.answer_locally(prepared)  # a private call would carry nothing: the cloud could only return the edge's own order
        cloud_started = time.perf_counter()
        answer_by = prepared.deadline_at - self.margin.seconds()
        if decision.timeout_s is not None:
            answer_by = min(answer_by, cloud_started + decision.timeout_s)
        message = self._cloud_request(prepared, private)
        call = asyncio.ensure_future(self._call_cloud(message, decision, answer_by))
        done, _ = await asyncio.wait((call,), timeout=max(answer_by - time.perf_counter(), 0.0))
        woke = time.perf_counter()
        if not done:
            self.margin.observe_lateness(woke - answer_by)
            call.cancel()
            reply, reason, link = None, DEADLINE, None
        else:
            reply, reason, link = call.result()
        model = prepared.model
        if reply is not None and (len(reply.item_ids) != len(reply.scores) or any(i < 1 or i > model.catalogue_size for i in reply.item_ids)):
            reply, reason = None, f"cloud {link.endpoint.name if link else ''}: answer names items outside model version {model.version}"
        if reply is None or link is None:
            return self.fallback(prepared, reason, cloud_us=(woke - cloud_started) * 1e6)
        ids, scores = np.asarray(reply.item_ids), np.asarray(reply.scores)
        if private is not None:
            try:
                ids, scores = private.merge(ids, prepared.k)
            except PrivateMergeError as err:
                return self.fallback(prepared, f"cloud {link.endpoint.name}: {err}", cloud_us=(woke - cloud_started) * 1e6)
        answer = Answer(ids, scores, decision.route, model.version, cloud_endpoint=link.endpoint.name,
                        edge_us=local.edge_us, router_us=local.router_us, cloud_us=(woke - cloud_started) * 1e6)
        return self._done(prepared, answer)

    def fallback(self, prepared: Prepared, reason: str, cloud_us: float = 0.0) -> Answer:
        """The edge's answer to a request whose cloud route gave none, marked degraded with ``reason``."""
        local = prepared.local
        return self._done(prepared, Answer(local.ids, local.scores, "local", local.model_version, degraded=True, degraded_reason=reason,
                                           edge_us=local.edge_us, router_us=local.router_us, cloud_us=cloud_us))

    def _done(self, prepared: Prepared, answer: Answer) -> Answer:
        codes = prepared.model.codes
        answer.item_codes = [codes[i] for i in answer.ids.tolist()]
        answer.total_us = (time.perf_counter() - prepared.started) * 1e6
        self.margin.observe_work((answer.total_us - answer.cloud_us) / 1e6)
        self.stats.observe(answer)
        return answer

    async def _call_cloud(self, message: cloud_pb2.RerankRequest | cloud_pb2.FullRankRequest, decision: Decision,
                          answer_by: float) -> tuple[cloud_pb2.CloudRankResponse | None, str, CloudLink | None]:
        """The cloud's answer, or None with the reason; one failover to the same route within the retry budget."""
        link = decision.link
        self.retry_budget.earn()
        reason = DEADLINE
        for attempt in range(2):
            assert link is not None
            left = answer_by - time.perf_counter()
            if left <= 0:
                break
            try:
                return await link.call(message, left), "", link
            except CloudCallFailed as err:
                reason = err.reason
            if attempt == 0 and self.retry_budget.spend():
                link = self.router.failover(decision, link, answer_by - time.perf_counter(), self.links)
                if link is None:
                    break
        return None, reason, None

    def _private_split(self, prepared: Prepared) -> PrivateSplit | None:
        """The plan of a private split call (the edge's candidates the split call may carry), or None when the call is not one."""
        opts, result = self.options, prepared.result
        if opts.split_mode != "private" or prepared.decision.route != "split":
            return None
        pool = opts.split_candidates or len(result.candidate_ids)
        return PrivateSplit.plan(result.candidate_ids[:pool], result.candidate_scores[:pool], prepared.items, opts.private_history_items)

    def _cloud_request(self, prepared: Prepared, private: PrivateSplit | None) -> cloud_pb2.RerankRequest | cloud_pb2.FullRankRequest:
        opts, model, (unix_time_s, days, baskets) = self.options, prepared.model, prepared.context
        if prepared.decision.route == "split":
            u = privatize(prepared.result.user_embedding, opts.privacy, self._rng)
            if private is not None:
                return split_request(private.carried(u), k=prepared.k, model_version=model.version, unix_time_s=unix_time_s,
                                     device_id=opts.device_id, encoding=opts.encoding, prior=prepared.prior)
            return split_request(prepared.result, k=prepared.k, model_version=model.version, unix_time_s=unix_time_s, device_id=opts.device_id,
                                 encoding=opts.encoding, candidates=opts.split_candidates, user_embedding=u, prior=prepared.prior)
        message = full_request(prepared.items, prepared.age, prepared.count, k=prepared.k, model_version=model.version, unix_time_s=unix_time_s,
                               days_since_last_basket=days, previous_baskets=baskets, device_id=opts.device_id)
        self.stats.raw_history_bytes_sent += sum(h.ByteSize() for h in message.history)
        return message
