"""The splitrank SDK: what an app calls to rank items through the on-device agent.

    from splitrank import Client

    with Client("127.0.0.1:50061") as client:          # or "unix:/run/splitrank/agent.sock"
        ranking = client.rank([("85123A", 3.0, 2)], k=10, deadline_s=0.1)
        print(ranking.item_ids, ranking.route, ranking.degraded, ranking.timings.total_us)

``AsyncClient`` is the same for asyncio apps, with the same method names (``await client.rank(...)``).
Both share one base: the settings, the request building and the reading of answers; only the I/O
differs. One client holds one channel: create it once and reuse it. Every failure is a
``SplitrankError``; the hierarchy and what each status code becomes are in ``splitrank.errors``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc

from core.routes import Route
from protos.v1 import agent_pb2, agent_pb2_grpc
from splitrank.errors import (
    AgentUnavailableError,
    DeadlineExceededError,
    InvalidRequestError,
    SplitrankError,
    UnexpectedResponseError,
    from_rpc_error,
)

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

__all__ = [
    "DEFAULT_DEADLINE_S",
    "DEFAULT_TARGET",
    "AgentUnavailableError",
    "AsyncClient",
    "Client",
    "DeadlineExceededError",
    "HistoryLike",
    "InvalidRequestError",
    "Ranking",
    "Route",
    "SplitrankError",
    "Timings",
    "UnexpectedResponseError",
]

DEFAULT_TARGET = "127.0.0.1:50061"
"""Where ``splitrank run-agent`` listens by default."""
DEFAULT_DEADLINE_S = 0.25
"""A call's deadline when neither the call nor the client names one: the agent's own default."""

HistoryLike = Iterable[tuple[str, float, float] | Mapping[str, Any]]
"""A customer's history, most recent first: ``(item_id, age_days, count)`` tuples, or mappings with
those keys (``age_days`` defaults to 0 and ``count`` to 1)."""

_CONTEXT_KEYS = ("unix_time_s", "days_since_last_basket", "previous_baskets")


@dataclass(frozen=True)
class Timings:
    """Where the time of one request went inside the agent, in microseconds."""

    edge_us: int
    """The TFLite edge step (history -> user embedding and candidates)."""
    router_us: int
    """The router's decision."""
    cloud_us: int
    """Waiting for the cloud (0 on the local route)."""
    total_us: int
    """From the agent receiving the request to its answer (the network to the app not included)."""


@dataclass(frozen=True)
class Ranking:
    """One answer: items best first with their scores, where it was computed and what it cost."""

    item_ids: list[str]
    scores: list[float]
    route: Route
    """The route that produced the items (``local`` when the cloud was asked but did not answer)."""
    degraded: bool
    """True when a cloud route was asked for (by the app or the policy) but the edge answered instead."""
    degraded_reason: str
    """Why it was degraded (``cloud c0: UNAVAILABLE``, ``circuit open``, ``deadline``, ...); empty otherwise."""
    timings: Timings
    model_version: str
    """The edge model version that served the request."""
    cloud_endpoint: str
    """The cloud endpoint that answered (empty on the local route)."""


def check_arguments(history: HistoryLike | None, user_id: str | None, k: int, value: float | None) -> None:
    """Raise InvalidRequestError for arguments no ranker can take (the agent checks the rest)."""
    if (history is None) == (user_id is None):
        raise InvalidRequestError("pass exactly one of history or user_id")
    if k < 0:
        raise InvalidRequestError(f"k must be >= 1 (0 = the agent's default), got {k}")
    if value is not None and not value >= 0:
        raise InvalidRequestError(f"value must be >= 0 (0 = unknown), got {value}")


def route_of(route: Route | str) -> Route:
    """The Route a caller named; InvalidRequestError for another name."""
    try:
        return Route(route)
    except ValueError:
        raise InvalidRequestError(f"route must be one of {[r.value for r in Route]}, got {route!r}") from None


def history_columns(history: HistoryLike, *, convert: bool = False) -> tuple[Sequence[str], Sequence[float], Sequence[float]]:
    """(item ids, ages, counts) of a history given as (item_id, age_days, count) tuples or mappings with those keys;
    ``convert`` turns every value into its type (naming the entry that cannot be) instead of passing tuples through."""
    entries = history if type(history) is list else list(history)
    if not convert and set(map(type, entries)) <= {tuple} and set(map(len, entries)) <= {3}:  # the common case, checked in C
        columns = tuple(zip(*entries))
        if not columns:
            return (), (), ()
        if set(map(type, columns[0])) == {str}:
            return columns  # type: ignore[return-value]
    rows = []
    for slot, entry in enumerate(entries):
        try:
            if isinstance(entry, Mapping):
                item_id, age, count = entry["item_id"], entry.get("age_days", 0.0), entry.get("count", 1.0)
            else:
                item_id, age, count = entry
            rows.append((str(item_id), float(age), float(count)))
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidRequestError(f"history[{slot}] is {entry!r}: each entry is (item_id, age_days, count) "
                                      f"or a mapping with those keys ({type(err).__name__}: {err})") from None
    columns = tuple(zip(*rows, strict=True))
    return columns if columns else ((), (), ())  # type: ignore[return-value]


class _BaseClient:
    """What ``Client`` and ``AsyncClient`` share: their settings, building the request, reading the answer."""

    def __init__(self, target: str = DEFAULT_TARGET, *, default_deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        if not default_deadline_s > 0:
            raise ValueError(f"default_deadline_s must be > 0, got {default_deadline_s}")
        self.target = target
        """``host:port`` or ``unix:PATH`` of the agent."""
        self.default_deadline_s = default_deadline_s
        """The deadline of a call that names none."""

    def _timeout(self, deadline_s: float | None) -> float:
        if deadline_s is None:
            return self.default_deadline_s
        if not deadline_s > 0:
            raise InvalidRequestError(f"deadline_s must be > 0 (None = the client's default, {self.default_deadline_s} s), got {deadline_s}")
        return deadline_s

    def build_request(self, history: HistoryLike | None = None, *, user_id: str | None = None, context: Mapping[str, Any] | None = None,
                      k: int = 10, route: Route | str | None = None, value: float | None = None) -> agent_pb2.RankRequest:
        """The wire request ``rank`` sends for these arguments (same meaning and defaults), e.g. to log or
        replay calls; raises ``InvalidRequestError`` for arguments that cannot be sent."""
        check_arguments(history, user_id, k, value)
        request = agent_pb2.RankRequest(k=k, value=value or 0.0)
        if route is not None:
            request.route = route_of(route).wire
        if user_id is not None:
            request.user_id = user_id
        else:
            entries = history if type(history) is list else list(history or ())
            for convert in (False, True):  # tuples go straight to the message; values it refuses are converted, or named
                request.compact_history.Clear()
                request.compact_history.SetInParent()  # an empty history is still a history (the agent ranks by popularity)
                codes, ages, counts = history_columns(entries, convert=convert)
                try:
                    request.compact_history.item_ids.extend(codes)
                    request.compact_history.age_days.extend(ages)
                    request.compact_history.counts.extend(counts)
                    break
                except (TypeError, ValueError):
                    if convert:
                        raise
        try:
            for key, setting in (context or {}).items():
                setattr(request.context, key, setting)
        except (AttributeError, TypeError, ValueError) as err:
            raise InvalidRequestError(f"context: {err} (keys: {', '.join(_CONTEXT_KEYS)})") from None
        return request

    @staticmethod
    def _ranking(response: agent_pb2.RankResponse) -> Ranking:
        try:
            route = Route.from_wire(response.route)
        except ValueError as err:
            raise UnexpectedResponseError(f"the agent answered with {err}: is it newer than this SDK?") from None
        t = response.timings
        pairs = [(i.item_id, i.score) for i in response.items]  # one pass over the repeated field
        item_ids, scores = map(list, zip(*pairs)) if pairs else ([], [])
        return Ranking(item_ids, scores, route, response.degraded,
                       response.degraded_reason, Timings(t.edge_us, t.router_us, t.cloud_us, t.total_us), response.model_version,
                       response.cloud_endpoint)


@contextmanager
def _sdk_errors() -> Iterator[None]:
    """The one place a gRPC error becomes an SDK exception, for both clients."""
    try:
        yield
    except grpc.RpcError as err:
        raise from_rpc_error(err) from None


class Client(_BaseClient):
    """Blocking client of one agent; thread-safe, one channel reused for every call.

    ``target``: ``host:port`` or ``unix:PATH`` (default ``127.0.0.1:50061``, the agent's default).
    ``default_deadline_s``: the deadline of calls that name none (default 0.25 s, the agent's own).
    Creating a client does not connect: the first call (or ``wait_ready``) does.
    """

    def __init__(self, target: str = DEFAULT_TARGET, *, default_deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        super().__init__(target, default_deadline_s=default_deadline_s)
        self._channel = grpc.insecure_channel(target)
        self._stub = agent_pb2_grpc.EdgeAgentStub(self._channel)

    def rank(self, history: HistoryLike | None = None, *, user_id: str | None = None, context: Mapping[str, Any] | None = None,
             k: int = 10, deadline_s: float | None = None, route: Route | str | None = None, value: float | None = None) -> Ranking:
        """Rank items for one customer, given by ``history`` (kept by the app) or ``user_id`` (kept by the agent).

        ``context``: ``unix_time_s`` (0 = now), ``days_since_last_basket``, ``previous_baskets``.
        ``k``: items wanted (0 = the agent's default, 10). ``deadline_s``: the whole call's deadline
        (None = ``default_deadline_s``). ``route``: force ``local``, ``split`` or ``cloud`` (None = the
        agent's router decides). A cloud failure does not raise: the edge answers, marked ``degraded``.

        Raises ``InvalidRequestError`` (bad arguments, or the agent's INVALID_ARGUMENT),
        ``AgentUnavailableError``, ``DeadlineExceededError``, ``UnexpectedResponseError``, or
        ``SplitrankError`` with the status ``code`` for any other failure.
        """
        request = self.build_request(history, user_id=user_id, context=context, k=k, route=route, value=value)
        timeout = self._timeout(deadline_s)
        with _sdk_errors():
            response = self._stub.Rank(request, timeout=timeout)
        return self._ranking(response)

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the agent to accept connections (it listens once its model is
        loaded); True when it does, False when it did not in time. Never raises for an absent agent."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout_s)
        except grpc.FutureTimeoutError:
            return False
        return True

    def close(self) -> None:
        """Close the channel; calls after this fail."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_BaseClient):
    """asyncio client of one agent, with ``Client``'s methods as coroutines; create it inside the event
    loop that uses it. Arguments and defaults as ``Client``."""

    def __init__(self, target: str = DEFAULT_TARGET, *, default_deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        super().__init__(target, default_deadline_s=default_deadline_s)
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = agent_pb2_grpc.EdgeAgentStub(self._channel)

    async def rank(self, history: HistoryLike | None = None, *, user_id: str | None = None, context: Mapping[str, Any] | None = None,
                   k: int = 10, deadline_s: float | None = None, route: Route | str | None = None, value: float | None = None) -> Ranking:
        """As ``Client.rank``, with the same arguments, defaults and exceptions."""
        request = self.build_request(history, user_id=user_id, context=context, k=k, route=route, value=value)
        timeout = self._timeout(deadline_s)
        with _sdk_errors():
            response = await self._stub.Rank(request, timeout=timeout)
        return self._ranking(response)

    async def wait_ready(self, timeout_s: float) -> bool:
        """As ``Client.wait_ready``: True once the agent accepts connections, False after ``timeout_s``."""
        try:
            await asyncio.wait_for(self._channel.channel_ready(), timeout_s)
        except asyncio.TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Close the channel; calls after this fail."""
        await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
