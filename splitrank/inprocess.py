"""``EdgeRanker``: the device's ranking inside the app's own process, for apps that ship the model
themselves (the way mobile apps run on-device rankers). It runs the TFLite edge step and the router in
the caller's thread and calls the cloud itself; the same ``rank(...)`` and ``Ranking`` as ``Client``.

    from splitrank import EdgeRanker

    with EdgeRanker("models", cloud="cloud.example:50051") as ranker:
        ranking = ranker.rank([("85123A", 3.0, 2)], k=10, deadline_s=0.1)

The local route never leaves the calling thread. Cloud calls run on one background event loop (grpc.aio,
one channel per endpoint), started with the ranker when it has cloud endpoints; the caller waits until the
deadline's margin at most, then takes the edge answer, marked degraded, as the agent does.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import grpc

from core.errors import InvalidRequest
from edge.history_store import HistoryStore
from edge.link import CloudLink, parse_endpoints
from edge.model import DEFAULT_VARIANT, EdgeModel
from edge.private_split import SplitMode
from edge.ranking import DEADLINE, AgentOptions, Answer, EdgeModelFailed, RankingEngine, RankQuery
from edge.router import Router, RouterConfig
from splitrank.client import HistoryLike, Ranking, Route, Timings, check_arguments, history_columns, route_of
from splitrank.errors import InvalidRequestError, SplitrankError

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

CONTEXT_KEYS = ("unix_time_s", "days_since_last_basket", "previous_baskets")


class EdgeRanker:
    """Ranks in-process with one bundle's edge model; thread-safe (one request at a time runs the edge step)."""

    def __init__(self, bundle: str | Path, *, cloud: str = "", policy: str = "learned", target_cloud_fraction: float = 0.3,
                 cloud_route: str = "split", variant: str = DEFAULT_VARIANT, threads: int = 1, default_deadline_s: float = 0.25,
                 histories: str | Path | None = None, split_mode: SplitMode = "standard") -> None:
        """``bundle``: a model repository (its newest valid bundle) or one bundle directory; ``cloud``: endpoints as
        ``run-agent --cloud`` takes them (``name=host:port@usd_per_call;...``; empty = local only); ``split_mode``:
        as ``run-agent --split-mode`` (``private``: split calls carry none of the customer's history items)."""
        model = EdgeModel(Path(bundle), variant=variant, threads=threads)
        router = Router(RouterConfig(policy=policy, cloud_route=cloud_route, target_cloud_fraction=target_cloud_fraction), model.gain_model)
        links = [CloudLink(endpoint) for endpoint in parse_endpoints(cloud)]
        self.default_deadline_s = default_deadline_s
        self._engine = RankingEngine(model, router, links, HistoryStore(Path(histories) if histories else None),
                                     AgentOptions(split_mode=split_mode))
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._watcher: Future[None] = Future()
        if links:  # the loop's timer lateness feeds the deadline margin from the start
            self._cloud_loop()

    @property
    def engine(self) -> RankingEngine:
        """The request path (its model, router, links and stats)."""
        return self._engine

    def rank(self, history: HistoryLike | None = None, *, user_id: str | None = None, context: Mapping[str, Any] | None = None,
             k: int = 10, deadline_s: float | None = None, route: Route | str | None = None, value: float | None = None) -> Ranking:
        """Rank items for a customer given by ``history`` or ``user_id``; ``route`` forces local/split/cloud; ``value``
        (e.g. the basket value the app expects) lets the router weigh this request against others."""
        started = time.perf_counter()
        check_arguments(history, user_id, k, value)
        forced = route_of(route).value if route is not None else None
        query = self._query(history, user_id, context or {}, k, forced, value, deadline_s or self.default_deadline_s)
        try:
            with self._lock:
                prepared = self._engine.prepare(query, started)
        except InvalidRequest as err:
            raise InvalidRequestError(str(err), grpc.StatusCode.INVALID_ARGUMENT) from None
        except EdgeModelFailed as err:
            raise SplitrankError(str(err), grpc.StatusCode.INTERNAL) from None
        if prepared.decision.route == "local":
            return _ranking(self._engine.answer_locally(prepared))
        future = asyncio.run_coroutine_threadsafe(self._engine.finish(prepared), self._cloud_loop())
        try:  # the loop ends its own wait at the margin; this one, half-way into it, guards against a loop that cannot run in time
            answer = future.result(timeout=max(prepared.deadline_at - time.perf_counter() - self._engine.margin.seconds() / 2, 0.0))
        except FutureTimeout:
            future.cancel()
            answer = self._engine.fallback(prepared, DEADLINE)
        return _ranking(answer)

    @staticmethod
    def _query(history: HistoryLike | None, user_id: str | None, context: Mapping[str, Any], k: int, route: str | None, value: float | None,
               deadline_s: float) -> RankQuery:
        unknown = set(context) - set(CONTEXT_KEYS)
        if unknown:
            raise InvalidRequestError(f"context: unknown keys {sorted(unknown)} (keys: {', '.join(CONTEXT_KEYS)})")
        try:
            items, ages, counts = history_columns(history) if history is not None else ((), (), ())
            unix_time_s, days = int(context.get("unix_time_s", 0)), float(context.get("days_since_last_basket", 0.0))
            baskets = int(context.get("previous_baskets", 0))
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidRequestError(f"history or context: {err}") from None
        return RankQuery(items, ages, counts, user_id=user_id, unix_time_s=unix_time_s, days_since_last_basket=days, previous_baskets=baskets,
                         k=k, route=route, value=value or 0.0, deadline_s=deadline_s)

    def _cloud_loop(self) -> asyncio.AbstractEventLoop:
        """The background event loop the cloud calls run on, started on first use."""
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="splitrank-cloud", daemon=True)
                self._thread.start()
                self._watcher = asyncio.run_coroutine_threadsafe(self._engine.margin.watch(), self._loop)
            return self._loop

    def close(self) -> None:
        """Close the cloud channels and stop the background loop."""
        if self._loop is None:
            return
        self._watcher.cancel()

        async def close_links() -> None:
            for link in self._engine.links:
                await link.close()

        asyncio.run_coroutine_threadsafe(close_links(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ranking(answer: Answer) -> Ranking:
    return Ranking(answer.item_codes, answer.scores.tolist(), Route(answer.route), answer.degraded, answer.degraded_reason,
                   Timings(round(answer.edge_us), round(answer.router_us), round(answer.cloud_us), round(answer.total_us)),
                   answer.model_version, answer.cloud_endpoint)
