"""The splitrank SDK: what an app calls to rank items through the on-device agent.

    from splitrank.client import Client

    with Client("127.0.0.1:50061") as client:          # or "unix:/run/splitrank/agent.sock"
        ranking = client.rank(history=[("85123A", 3.0, 2)], k=10, deadline_s=0.1)
        print(ranking.item_ids, ranking.route, ranking.degraded, ranking.timings)

``AsyncClient`` is the same for asyncio apps. One client holds one channel: create it once and reuse
it. Errors are ``SplitrankError`` subclasses that say what went wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from core.routes import ROUTE_NAMES, ROUTES
from protos.v1 import agent_pb2, agent_pb2_grpc

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

HistoryLike = Iterable[tuple[str, float, float] | Mapping[str, Any]]
"""(item_id, age_days, count) tuples or dicts with those keys, most recent first."""


class SplitrankError(Exception):
    """A ranking request failed; ``code`` is the gRPC status name."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class InvalidRequestError(SplitrankError):
    """The agent rejected the request as sent (unknown item, bad k, ...); the message says what."""


class AgentUnavailableError(SplitrankError):
    """No agent answers at the target address."""


class DeadlineExceededError(SplitrankError):
    """No answer within the deadline."""


@dataclass(frozen=True)
class Ranking:
    """One answer: items best first with scores, where it was computed and what it cost."""

    item_ids: list[str]
    scores: list[float]
    route: str
    degraded: bool
    degraded_reason: str
    timings: dict[str, int]
    """Microseconds: ``edge_us``, ``router_us``, ``cloud_us``, ``total_us`` (inside the agent)."""
    model_version: str
    cloud_endpoint: str


def check_arguments(history: HistoryLike | None, user_id: str | None, k: int, route: str | None, value: float | None) -> None:
    """Raise InvalidRequestError for arguments no ranker can take (the agent checks the rest)."""
    if (history is None) == (user_id is None):
        raise InvalidRequestError("pass exactly one of history or user_id")
    if k < 0:
        raise InvalidRequestError(f"k must be >= 1 (0 = the agent's default), got {k}")
    if route is not None and route not in ROUTES:
        raise InvalidRequestError(f"route must be one of {sorted(ROUTES)}, got {route!r}")
    if value is not None and not value >= 0:
        raise InvalidRequestError(f"value must be >= 0 (0 = unknown), got {value}")


def history_entry(entry: tuple[str, float, float] | Mapping[str, Any]) -> tuple[str, float, float]:
    """(item_id, age_days, count) of one history entry given as a tuple or a dict."""
    if not isinstance(entry, tuple) and isinstance(entry, Mapping):  # tuples first: an ABC check costs more than the rest
        return str(entry["item_id"]), float(entry.get("age_days", 0.0)), float(entry.get("count", 1.0))
    item_id, age, count = entry
    return str(item_id), float(age), float(count)


def history_columns(history: HistoryLike) -> tuple[Sequence[str], Sequence[float], Sequence[float]]:
    """(item ids, ages, counts) of a history given as (item_id, age_days, count) tuples or dicts."""
    entries = list(history)
    if all(type(entry) is tuple and len(entry) == 3 and type(entry[0]) is str for entry in entries):  # the common case, without a call per entry
        columns = tuple(zip(*entries, strict=True))
        return columns if columns else ((), (), ())  # type: ignore[return-value]
    columns = tuple(zip(*map(history_entry, entries), strict=True))
    return columns if columns else ((), (), ())  # type: ignore[return-value]


def build_request(history: HistoryLike | None, user_id: str | None, context: Mapping[str, Any] | None, k: int,
                  route: str | None, value: float | None = None) -> agent_pb2.RankRequest:
    """The wire request; raises InvalidRequestError for arguments that cannot be sent."""
    check_arguments(history, user_id, k, route, value)
    request = agent_pb2.RankRequest(k=k, value=value or 0.0)
    if route is not None:
        request.route = ROUTES[route]
    if user_id is not None:
        request.user_id = user_id
    else:
        request.compact_history.SetInParent()  # an empty history is still a history (the agent ranks by popularity)
        try:
            codes, ages, counts = history_columns(history or ())
            request.compact_history.item_ids.extend(codes)
            request.compact_history.age_days.extend(ages)
            request.compact_history.counts.extend(counts)
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidRequestError(f"history: {err} (entries are (item_id, age_days, count) or dicts with those keys)") from None
    try:
        for key, setting in (context or {}).items():
            setattr(request.context, key, setting)
    except (AttributeError, TypeError, ValueError) as err:
        raise InvalidRequestError(f"context: {err} (keys: unix_time_s, days_since_last_basket, previous_baskets)") from None
    return request


def to_ranking(response: agent_pb2.RankResponse) -> Ranking:
    """The SDK's view of a wire response."""
    t = response.timings
    return Ranking([i.item_id for i in response.items], [i.score for i in response.items], ROUTE_NAMES.get(response.route, "local"),
                   response.degraded, response.degraded_reason,
                   {"edge_us": t.edge_us, "router_us": t.router_us, "cloud_us": t.cloud_us, "total_us": t.total_us},
                   response.model_version, response.cloud_endpoint)


def to_error(err: grpc.RpcError) -> SplitrankError:
    """A gRPC error as the SDK's exception."""
    code = err.code()  # type: ignore[attr-defined]
    detail = err.details() or code.name  # type: ignore[attr-defined]
    kind = {grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError, grpc.StatusCode.UNAVAILABLE: AgentUnavailableError,
            grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError}.get(code, SplitrankError)
    return kind(detail, code.name)


class Client:
    """Blocking client; thread-safe, one channel reused for every call."""

    def __init__(self, target: str = "127.0.0.1:50061", *, default_deadline_s: float = 0.25) -> None:
        self.target = target
        self.default_deadline_s = default_deadline_s
        self._channel = grpc.insecure_channel(target)
        self._stub = agent_pb2_grpc.EdgeAgentStub(self._channel)

    def rank(self, history: HistoryLike | None = None, *, user_id: str | None = None, context: Mapping[str, Any] | None = None,
             k: int = 10, deadline_s: float | None = None, route: str | None = None, value: float | None = None) -> Ranking:
        """Rank items for a customer given by ``history`` or ``user_id``; ``route`` forces local/split/cloud; ``value``
        (e.g. the basket value the app expects) lets the router weigh this request against others."""
        request = build_request(history, user_id, context, k, route, value)
        try:
            return to_ranking(self._stub.Rank(request, timeout=deadline_s or self.default_deadline_s))
        except grpc.RpcError as err:
            raise to_error(err) from None

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the agent to accept connections (it listens once its model is loaded); True when it does."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout_s)
        except grpc.FutureTimeoutError:
            return False
        return True

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """asyncio client; create it inside the event loop that uses it."""

    def __init__(self, target: str = "127.0.0.1:50061", *, default_deadline_s: float = 0.25) -> None:
        self.target = target
        self.default_deadline_s = default_deadline_s
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = agent_pb2_grpc.EdgeAgentStub(self._channel)

    async def rank(self, history: HistoryLike | None = None, *, user_id: str | None = None, context: Mapping[str, Any] | None = None,
                   k: int = 10, deadline_s: float | None = None, route: str | None = None, value: float | None = None) -> Ranking:
        """Rank items for a customer given by ``history`` or ``user_id``; ``route`` forces local/split/cloud; ``value``
        (e.g. the basket value the app expects) lets the router weigh this request against others."""
        request = build_request(history, user_id, context, k, route, value)
        try:
            return to_ranking(await self._stub.Rank(request, timeout=deadline_s or self.default_deadline_s))
        except grpc.RpcError as err:
            raise to_error(err) from None

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
