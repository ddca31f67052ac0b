"""The edge agent over real sockets, called through the SDK: a real cloud server (the tiny bundle),
real TCP proxies in between to slow or cut the link, a real agent with its TFLite model."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.serving.server import ServeSettings
from cloud.serving.validation import RerankInput
from edge.server import AgentSettings
from splitrank.client import InvalidRequestError
from splitrank.netem import NetemProxy, NetworkProfile
from splitrank.ports import free_port
from tests.cloud.server_thread import ServerThread
from tests.edge.agent_thread import AgentThread
from tests.histories import catalogue_history

pytestmark = pytest.mark.slow


@pytest.fixture
def agent(tiny_bundle: Path, cloud: ServerThread) -> Iterator[AgentThread]:
    proxy = NetemProxy("127.0.0.1", cloud.running.port, NetworkProfile("lan", 0.0), seed=0)
    running = AgentThread(AgentSettings(repository=tiny_bundle, policy="local"), [proxy])
    yield running
    running.close()


def test_every_route_answers_through_the_sdk(agent: AgentThread, tiny_bundle: Path) -> None:
    history = catalogue_history(tiny_bundle)
    local = agent.client.rank(history, k=5, deadline_s=5)
    assert local.route == "local" and not local.degraded and len(local.item_ids) == 5
    assert local.timings.edge_us > 0 and local.timings.total_us >= local.timings.edge_us
    split = agent.client.rank(history, k=5, deadline_s=5, route="split")
    assert (split.route, split.degraded, split.cloud_endpoint) == ("split", False, "c0"), split.degraded_reason
    assert split.scores == sorted(split.scores, reverse=True)
    cloud = agent.client.rank(history, k=7, deadline_s=5, route="cloud")
    assert (cloud.route, cloud.degraded, len(cloud.item_ids)) == ("cloud", False, 7), cloud.degraded_reason
    assert agent.running.service.stats.raw_history_bytes_sent > 0  # only the cloud route sent the history


def test_split_call_carries_no_history_and_is_compact(agent: AgentThread, tiny_bundle: Path) -> None:
    link = agent.running.links[0]
    before = link.stats.bytes_up
    agent.client.rank(catalogue_history(tiny_bundle, 12), k=5, deadline_s=5, route="split")
    sent = link.stats.bytes_up - before
    assert agent.running.service.stats.raw_history_bytes_sent == 0
    model = agent.running.service.model
    float_call = 4 * 32 + 4 * model.candidates * 2  # float32 u, uint32 ids, float32 scores
    assert 0 < sent < 0.5 * float_call


def test_cloud_down_degrades_then_the_breaker_opens_and_closes(agent: AgentThread, tiny_bundle: Path) -> None:
    history, proxy = catalogue_history(tiny_bundle), agent.proxies[0]
    proxy.down()
    for _ in range(8):
        started = time.monotonic()
        answer = agent.client.rank(history, k=5, deadline_s=0.5, route="split")
        assert answer.degraded and answer.route == "local" and len(answer.item_ids) == 5
        assert time.monotonic() - started < 0.5
    breaker = agent.running.links[0].breaker
    assert breaker.state == "open" and breaker.times_opened >= 1
    assert agent.client.rank(history, k=5, deadline_s=0.5, route="split").degraded_reason == "circuit open"
    proxy.up()
    time.sleep(breaker.open_s + 0.1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the half-open probe reconnects, then the breaker closes
        if not agent.client.rank(history, k=5, deadline_s=2, route="split").degraded:
            break
        time.sleep(0.2)
    assert breaker.state == "closed"


def test_slow_cloud_is_answered_locally_within_the_deadline(tiny_bundle: Path, cloud: ServerThread) -> None:
    slow = NetemProxy("127.0.0.1", cloud.running.port, NetworkProfile("slow", 300.0), seed=0)
    running = AgentThread(AgentSettings(repository=tiny_bundle, policy="split"), [slow])
    try:
        for _ in range(3):  # the SDK gets an answer (not DeadlineExceededError), which the agent gave within the deadline
            answer = running.client.rank(catalogue_history(tiny_bundle), k=5, deadline_s=0.2)
            assert answer.timings.total_us < 200_000, answer.timings
            assert answer.degraded and answer.route == "local", answer
    finally:
        running.close()


def test_shedding_cloud_degrades(tiny_bundle: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_bundle, tmp_path / tiny_bundle.name)
    shedding = ServerThread(ServeSettings(repository=tmp_path, port=0, max_queue=0))
    proxy = NetemProxy("127.0.0.1", shedding.running.port, NetworkProfile("lan", 0.0))
    running = AgentThread(AgentSettings(repository=tiny_bundle, policy="split"), [proxy])
    try:
        answer = running.client.rank(catalogue_history(tiny_bundle), k=5, deadline_s=2)
        assert answer.degraded and "RESOURCE_EXHAUSTED" in answer.degraded_reason
        assert running.running.links[0].backoff_until > time.monotonic() - 1
    finally:
        running.close()
        shedding.close()


def test_failover_to_the_second_endpoint(tiny_bundle: Path, cloud: ServerThread) -> None:
    dead = NetemProxy("127.0.0.1", free_port(), NetworkProfile("lan", 0.0))  # forwards to nothing: every call fails
    alive = NetemProxy("127.0.0.1", cloud.running.port, NetworkProfile("lan", 0.0))
    running = AgentThread(AgentSettings(repository=tiny_bundle, policy="split"), [dead, alive])
    try:
        answer = running.client.rank(catalogue_history(tiny_bundle), k=5, deadline_s=2)
        assert not answer.degraded and answer.cloud_endpoint == "c1", answer
    finally:
        running.close()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"history": [("NO-SUCH-ITEM", 1.0, 1.0)]}, "not in the catalogue"),
    ({"history": [("@0", -1.0, 1.0)]}, "age_days"),
    ({"history": [], "k": 10**6}, "catalogue"),
])
def test_bad_input_is_invalid_argument_and_the_agent_keeps_serving(agent: AgentThread, tiny_bundle: Path, kwargs: dict,
                                                                   message: str) -> None:
    history = [(catalogue_history(tiny_bundle, 1)[0][0] if item == "@0" else item, age, count) for item, age, count in kwargs.pop("history")]
    with pytest.raises(InvalidRequestError) as err:
        agent.client.rank(history, deadline_s=5, **kwargs)
    assert message in str(err.value)
    assert len(agent.client.rank(catalogue_history(tiny_bundle), k=3, deadline_s=5).item_ids) == 3


def test_documented_defaults(agent: AgentThread, tiny_bundle: Path) -> None:
    assert len(agent.client.rank([], k=0, deadline_s=5).item_ids) == 10  # k=0: the default; empty history: popularity
    assert len(agent.client.rank(user_id="never-seen", deadline_s=5).item_ids) == 10  # unknown customer: empty history
    assert agent.client.rank(catalogue_history(tiny_bundle), deadline_s=10**6).route == "local"  # absurd deadline: capped


def test_fewer_split_candidates_send_fewer_bytes(tiny_bundle: Path, cloud: ServerThread) -> None:
    sizes = {}
    for count in (0, 8):
        proxy = NetemProxy("127.0.0.1", cloud.running.port, NetworkProfile("lan", 0.0))
        running = AgentThread(AgentSettings(repository=tiny_bundle, policy="split", split_candidates=count), [proxy])
        try:
            answer = running.client.rank(catalogue_history(tiny_bundle, 12), k=5, deadline_s=5)
            assert answer.route == "split" and not answer.degraded, answer
            if count:
                model = running.running.service.model
                assert set(answer.item_ids) <= set(running.client.rank(catalogue_history(tiny_bundle, 12), k=count, deadline_s=5, route="local").item_ids)
                assert model.candidates > count
            sizes[count] = running.running.links[0].stats.bytes_up
        finally:
            running.close()
    assert sizes[8] < sizes[0]


def test_the_per_item_history_form_ranks_like_the_sdks_columns(agent: AgentThread, tiny_bundle: Path) -> None:
    import grpc

    from protos.v1 import agent_pb2, agent_pb2_grpc, common_pb2

    history = catalogue_history(tiny_bundle, 8)
    request = agent_pb2.RankRequest(k=5, history=agent_pb2.History(items=[common_pb2.HistoryItem(item_id=i, age_days=a, count=c)
                                                                         for i, a, c in history]))
    with grpc.insecure_channel(f"127.0.0.1:{agent.running.port}") as channel:
        answer = agent_pb2_grpc.EdgeAgentStub(channel).Rank(request, timeout=5)
        assert [item.item_id for item in answer.items] == agent.client.rank(history, k=5, deadline_s=5).item_ids
        uneven = agent_pb2.RankRequest(k=5, compact_history=agent_pb2.CompactHistory(item_ids=[history[0][0]], age_days=[1.0, 2.0], counts=[1.0]))
        with pytest.raises(grpc.RpcError) as err:
            agent_pb2_grpc.EdgeAgentStub(channel).Rank(uneven, timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "one each per item" in err.value.details()


@pytest.mark.parametrize("mode", ["standard", "private"])
def test_private_split_calls_carry_no_history_item_and_still_rank_the_repeats(tiny_bundle: Path, cloud: ServerThread,
                                                                               monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    models, carried = cloud.running.repository.current, []
    rerank_calls = models.rerank_calls

    def recording(calls: list[RerankInput]) -> list[list[float]]:
        carried.extend(call.ids for call in calls)  # what the cloud server received, as its reranker sees it
        return rerank_calls(calls)

    monkeypatch.setattr(models, "rerank_calls", recording)
    proxy = NetemProxy("127.0.0.1", cloud.running.port, NetworkProfile("lan", 0.0))
    running = AgentThread(AgentSettings(repository=tiny_bundle, policy="split", split_mode=mode), [proxy])
    history = catalogue_history(tiny_bundle, 12)
    try:
        answer = running.client.rank(history, k=10, deadline_s=5)
        local = running.client.rank(history, k=10, deadline_s=5, route="local")
        codes = running.running.service.model.codes
    finally:
        running.close()
    assert (answer.route, answer.degraded) == ("split", False), answer.degraded_reason
    history_ids = {codes.index(code) for code, _, _ in history}
    sent = {item for ids in carried for item in ids}
    repeats = {code for code, _, _ in history}
    if mode == "standard":
        assert history_ids <= sent  # unchanged: the call names the whole history
        return
    assert sent and not sent & history_ids
    in_place = [(rank, code) for rank, code in enumerate(local.item_ids) if code in repeats]
    assert in_place and in_place == [(rank, code) for rank, code in enumerate(answer.item_ids) if code in repeats]
    assert set(answer.item_ids) - repeats <= {codes[i] for i in sent}  # the rest: what the cloud reranked
