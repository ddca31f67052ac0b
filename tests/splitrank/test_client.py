"""The SDK against a real grpc.aio EdgeAgent on a free port whose handler answers what each test asks
for: every gRPC status code becomes its documented exception, in the sync and the async client alike;
an answer with a route this SDK does not know is an error, never read as "local"."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from core.errors import InvalidRequest
from protos.v1 import agent_pb2, agent_pb2_grpc, common_pb2
from splitrank import (
    AgentUnavailableError,
    AsyncClient,
    Client,
    DeadlineExceededError,
    InvalidRequestError,
    Ranking,
    Route,
    SplitrankError,
    Timings,
    UnexpectedResponseError,
)
from splitrank.ports import free_port
from tests.loop_thread import LoopThread

MAPPED: dict[grpc.StatusCode, type[SplitrankError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.UNAVAILABLE: AgentUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}
FAILURES = [code for code in grpc.StatusCode if code != grpc.StatusCode.OK]


class ScriptedAgent(agent_pb2_grpc.EdgeAgentServicer):
    """``user_id`` says what to do: ``abort:<STATUS>`` aborts with that code, ``route:<n>`` answers with
    route value n, ``sleep`` outlives any short deadline, anything else answers one item on the split route."""

    async def Rank(self, request: agent_pb2.RankRequest, context: grpc.aio.ServicerContext) -> agent_pb2.RankResponse:
        what, _, arg = request.user_id.partition(":")
        if what == "abort":
            await context.abort(grpc.StatusCode[arg], f"scripted {arg}")
        if what == "sleep":
            await asyncio.sleep(5)
        route = int(arg) if what == "route" else common_pb2.ROUTE_SPLIT
        return agent_pb2.RankResponse(items=[agent_pb2.RankedItem(item_id="85123A", score=1.5)], route=route, model_version="7",  # type: ignore[arg-type]
                                      cloud_endpoint="c0", timings=agent_pb2.Timings(edge_us=10, router_us=2, cloud_us=300, total_us=320))


@pytest.fixture(scope="module")
def agent() -> Iterator[str]:
    thread = LoopThread()

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server()
        agent_pb2_grpc.add_EdgeAgentServicer_to_server(ScriptedAgent(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = thread.call(start())
    yield f"127.0.0.1:{port}"
    thread.call(server.stop(0))
    thread.close()


def sync_rank(target: str, **kwargs: Any) -> Ranking:
    with Client(target) as client:
        return client.rank(**kwargs)


def async_rank(target: str, **kwargs: Any) -> Ranking:
    async def call() -> Ranking:
        async with AsyncClient(target) as client:
            return await client.rank(**kwargs)

    return asyncio.run(call())


RANKERS: list[Callable[..., Ranking]] = [sync_rank, async_rank]


@pytest.mark.parametrize("rank", RANKERS, ids=["sync", "async"])
@pytest.mark.parametrize("code", FAILURES, ids=[code.name for code in FAILURES])
def test_every_status_code_becomes_its_exception(agent: str, rank: Callable[..., Ranking], code: grpc.StatusCode) -> None:
    with pytest.raises(SplitrankError) as caught:
        rank(agent, user_id=f"abort:{code.name}", deadline_s=5)
    assert type(caught.value) is MAPPED.get(code, SplitrankError)
    assert caught.value.code == code and str(caught.value) == f"scripted {code.name}"


@pytest.mark.parametrize("rank", RANKERS, ids=["sync", "async"])
def test_an_answer_is_typed(agent: str, rank: Callable[..., Ranking]) -> None:
    answer = rank(agent, history=[("85123A", 1.0, 2.0), {"item_id": "22423"}], deadline_s=5)
    assert answer == Ranking(["85123A"], [1.5], Route.SPLIT, False, "", Timings(10, 2, 300, 320), "7", "c0")
    assert answer.route == "split" and isinstance(answer.route, Route)


@pytest.mark.parametrize("rank", RANKERS, ids=["sync", "async"])
@pytest.mark.parametrize("value", [common_pb2.ROUTE_UNSPECIFIED, 99])
def test_an_unknown_route_is_an_error(agent: str, rank: Callable[..., Ranking], value: int) -> None:
    with pytest.raises(UnexpectedResponseError, match=f"unknown route {value}"):
        rank(agent, user_id=f"route:{value}", deadline_s=5)


@pytest.mark.parametrize("rank", RANKERS, ids=["sync", "async"])
def test_real_deadline_and_absent_agent(agent: str, rank: Callable[..., Ranking]) -> None:
    with pytest.raises(DeadlineExceededError) as late:
        rank(agent, user_id="sleep", deadline_s=0.2)
    assert late.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(AgentUnavailableError):
        rank(f"127.0.0.1:{free_port()}", user_id="x", deadline_s=2)


@pytest.mark.parametrize("rank", RANKERS, ids=["sync", "async"])
@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "exactly one of history or user_id"),
    ({"history": [], "user_id": "u"}, "exactly one of history or user_id"),
    ({"user_id": "u", "k": -1}, "k must be >= 1"),
    ({"user_id": "u", "route": "edge"}, "route must be one of"),
    ({"user_id": "u", "context": {"weather": 1}}, "context"),
    ({"user_id": "u", "deadline_s": 0}, "deadline_s must be > 0"),
    ({"history": [("85123A", 1.0)]}, r"history\[0\] is \('85123A', 1.0\)"),
    ({"history": [("85123A", 1.0, 1.0), {"age_days": 2.0}]}, r"history\[1\].*KeyError"),
    ({"history": [("85123A", "yesterday", 1.0)]}, r"history\[0\].*ValueError"),
])
def test_arguments_that_cannot_be_sent_fail_before_sending(rank: Callable[..., Ranking], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message) as caught:
        rank(f"127.0.0.1:{free_port()}", **kwargs)  # nobody listens there: the SDK itself refused
    assert caught.value.code is None and isinstance(caught.value, InvalidRequest)  # the one invalid-request error


def test_wait_ready_on_both_clients(agent: str) -> None:
    absent = f"127.0.0.1:{free_port()}"
    with Client(agent) as present, Client(absent) as missing:
        assert present.wait_ready(5) and not missing.wait_ready(0.3)

    async def both() -> tuple[bool, bool]:
        async with AsyncClient(agent) as present, AsyncClient(absent) as missing:
            return await present.wait_ready(5), await missing.wait_ready(0.3)

    assert asyncio.run(both()) == (True, False)


def test_forced_route_goes_on_the_wire() -> None:
    client = Client(f"127.0.0.1:{free_port()}")
    try:
        assert client.build_request([], route=Route.CLOUD).route == common_pb2.ROUTE_CLOUD
        assert client.build_request([], route="local").route == common_pb2.ROUTE_LOCAL
        assert client.build_request([]).route == common_pb2.ROUTE_UNSPECIFIED
    finally:
        client.close()
