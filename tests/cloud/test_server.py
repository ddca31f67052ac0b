"""The cloud server over real sockets: a real grpc.aio server on a free port, real bundles."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cloud.serving.scoring import ServingModels
from cloud.serving.server import ServeSettings, in_flight_limit
from core.codec import FLOAT32, INT8, encode
from edge.link import KEEPALIVE
from protos.v1 import cloud_pb2
from tests.cloud.server_thread import ServerThread

pytestmark = pytest.mark.slow


def _split_request(models: ServingModels, rng: np.random.Generator, k: int = 5, n: int = 12, encoding: int = INT8) -> cloud_pb2.RerankRequest:
    ids = rng.choice(np.arange(1, models.catalogue_size), size=n, replace=False)
    user = rng.normal(size=models.embedding_dim).astype(np.float32)
    return cloud_pb2.RerankRequest(user_embedding=encode(user, encoding).to_proto(), candidate_ids=ids.tolist(),
                                   edge_scores=np.sort(rng.normal(size=n))[::-1].tolist(), k=k, unix_time_s=1317427200)


def test_health_and_reflection(server: ServerThread) -> None:
    health = health_pb2_grpc.HealthStub(server.channel)
    assert health.Check(health_pb2.HealthCheckRequest(service="splitrank.v1.CloudRanker")).status == health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    answer = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in answer.list_services_response.service}
    assert {"splitrank.v1.CloudRanker", "grpc.health.v1.Health"} <= names


def test_batched_results_equal_direct_model_calls(server: ServerThread) -> None:
    models = server.running.repository.current
    rng = np.random.default_rng(1)
    requests = [_split_request(models, rng, encoding=FLOAT32) for _ in range(48)]
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda r: server.stub.Rerank(r, timeout=30), requests))
    for request, response in zip(requests, responses, strict=True):
        ids = np.array(request.candidate_ids, np.int32)[None]
        direct = models.rerank(np.array(request.user_embedding.values and np.frombuffer(request.user_embedding.values, "<f4"))[None],
                               ids, np.array(request.edge_scores, np.float32)[None], np.array([request.unix_time_s]))[0]
        order = np.argsort(-direct, kind="stable")[: request.k]
        assert list(response.item_ids) == ids[0, order].tolist()
        np.testing.assert_allclose(response.scores, direct[order], rtol=1e-5, atol=1e-5)
        assert response.model_version == models.version and response.load.queue_capacity > 0
    batch_sizes = server.running.metrics.batch_size["reranker"]
    assert batch_sizes.sum > batch_sizes.counts[0], "no batch held more than one request"


def test_the_reranker_is_told_the_prior_the_device_was_fed(server: ServerThread) -> None:
    models = server.running.repository.current
    request = _split_request(models, np.random.default_rng(3), encoding=FLOAT32)
    days = np.array([0, int(models.trend_start.timestamp()) + 5 * 86400])
    ids = np.array(request.candidate_ids, np.int32)[None]
    priors = models.candidate_priors(days, np.repeat(ids, 2, axis=0))
    np.testing.assert_array_equal(priors[0], models.edge_prior[ids[0]])  # 0: the prior the edge model was released with
    np.testing.assert_array_equal(priors[1], models.trend[5][ids[0]])  # a pushed prior: the trend row of its day
    user = np.frombuffer(request.user_embedding.values, "<f4")[None]
    scores = np.array(request.edge_scores, np.float32)[None]
    answers = []
    for day in days:  # one call at a time: each is a lone call, which the batcher runs on its own arrays
        request.prior_day_unix_s = int(day)
        direct = models.rerank(user, ids, scores, np.array([request.unix_time_s]), np.array([day]))[0]
        response = server.stub.Rerank(request, timeout=30)
        order = np.argsort(-direct, kind="stable")[: request.k]
        assert list(response.item_ids) == ids[0, order].tolist()
        np.testing.assert_allclose(response.scores, direct[order], rtol=1e-5, atol=1e-5)
        answers.append(np.array(response.scores))
    assert not np.allclose(answers[0], answers[1]), "the pushed prior's day changed nothing: the test cannot tell the priors apart"
    released = models.rerank(user, ids, scores, np.array([request.unix_time_s]))[0]
    np.testing.assert_allclose(models.rerank(user, ids, scores, np.array([request.unix_time_s]), days[:1])[0], released)


def test_an_idle_agent_keeps_its_connection(server: ServerThread) -> None:
    # the agent's keepalive, pinging every 10.5 s (the server allows 10 s) with no call in flight: gRPC's default server
    # policy answered the fourth ping with GOAWAY too_many_pings (42 s), and the agent had to connect again for its next call
    options = [(key, 10_500 if key == "grpc.keepalive_time_ms" else value) for key, value in KEEPALIVE]
    states: list[grpc.ChannelConnectivity] = []
    with grpc.insecure_channel(f"127.0.0.1:{server.running.port}", options=options) as channel:
        channel.subscribe(states.append, try_to_connect=True)
        grpc.channel_ready_future(channel).result(timeout=10)
        time.sleep(48)  # four pings
        assert states[-1] == grpc.ChannelConnectivity.READY, states
        assert grpc.ChannelConnectivity.IDLE not in states[states.index(grpc.ChannelConnectivity.READY):], states


def test_full_route_ranks_the_catalogue(server: ServerThread) -> None:
    models = server.running.repository.current
    request = cloud_pb2.FullRankRequest(history=[cloud_pb2.CloudHistoryItem(item_id=i, age_days=3.0 * i, count=2) for i in (1, 2, 3)],
                                        k=10)
    response = server.stub.RankFull(request, timeout=30)
    assert len(response.item_ids) == 10 and len(set(response.item_ids)) == 10
    assert all(1 <= i < models.catalogue_size for i in response.item_ids)
    assert list(response.scores) == sorted(response.scores, reverse=True)


BAD = {
    "wrong embedding size": (lambda r: r.user_embedding.MergeFrom(encode(np.ones(3, np.float32)).to_proto()), "has dim 3"),
    "NaN scale": (lambda r: setattr(r.user_embedding, "scale", float("nan")), "scale must be finite"),
    "zero scale": (lambda r: setattr(r.user_embedding, "scale", 0.0), "scale must be finite"),
    "unknown candidate": (lambda r: r.candidate_ids.__setitem__(0, 10**6), "unknown candidate ids [1000000]"),
    "padding candidate": (lambda r: r.candidate_ids.__setitem__(0, 0), "unknown candidate ids [0]"),
    "duplicate candidate": (lambda r: r.candidate_ids.__setitem__(1, r.candidate_ids[0]), "duplicate candidate ids"),
    "k too large": (lambda r: setattr(r, "k", 99), "k is 99"),
    "k zero": (lambda r: setattr(r, "k", 0), "k is 0"),
    "scores missing": (lambda r: r.ClearField("edge_scores"), "0 edge_scores for 12 candidate_ids"),
    "empty request": (lambda r: r.Clear(), "no candidate_ids"),
    "oversized": (lambda r: setattr(r, "device_id", "x" * 100_000), "bytes, the limit is"),
    "negative prior day": (lambda r: setattr(r, "prior_day_unix_s", -1), "prior_day_unix_s must be between 0"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_invalid_argument(server: ServerThread, case: str) -> None:
    mutate, message = BAD[case]
    request = _split_request(server.running.repository.current, np.random.default_rng(2))
    mutate(request)
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.Rerank(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert message in caught.value.details()


def test_unknown_pinned_version_is_not_found(server: ServerThread) -> None:
    request = _split_request(server.running.repository.current, np.random.default_rng(3))
    request.model_version = "999"
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.Rerank(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_expired_deadline_computes_nothing(server: ServerThread) -> None:
    request = _split_request(server.running.repository.current, np.random.default_rng(4))
    computed = server.running.metrics.compute_seconds["reranker"].sum
    codes = []
    for _ in range(5):
        with pytest.raises(grpc.RpcError) as caught:
            server.stub.Rerank(request, timeout=0.000001)
        codes.append(caught.value.code())
    assert set(codes) == {grpc.StatusCode.DEADLINE_EXCEEDED}
    time.sleep(0.2)
    assert server.running.metrics.compute_seconds["reranker"].sum == computed


def test_hot_reload_under_load_loses_no_call_and_refuses_corrupt_bundles(server: ServerThread, repository: Path) -> None:
    models = server.running.repository.current
    rng = np.random.default_rng(5)
    requests = [_split_request(models, rng) for _ in range(300)]
    stop_at = time.monotonic() + 60
    seen_versions: set[str] = set()

    def load() -> int:
        failures = 0
        for request in requests:
            try:
                seen_versions.add(server.stub.Rerank(request, timeout=30).model_version)
            except grpc.RpcError:
                failures += 1
            if time.monotonic() > stop_at:
                break
        return failures

    with ThreadPoolExecutor(4) as pool:
        running = [pool.submit(load) for _ in range(4)]
        time.sleep(0.3)
        shutil.copytree(repository / "1", repository / ".corrupt")
        (repository / ".corrupt" / "cloud" / "reranker.weights.h5").write_bytes(b"not weights")
        (repository / ".corrupt").rename(repository / "3")
        shutil.copytree(repository / "1", repository / ".incoming")
        (repository / ".incoming").rename(repository / "2")
        failures = sum(f.result() for f in running)
    assert failures == 0
    deadline = time.monotonic() + 20
    while server.running.repository.current.version != "2" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.running.repository.current.version == "2"
    assert "3" in server.running.repository.refused and "corrupt" in server.running.repository.refused["3"]
    response = server.stub.Rerank(replace_version(requests[0], "1"), timeout=10)
    assert response.model_version == "1", "the previous version stays pinnable"


def replace_version(request: cloud_pb2.RerankRequest, version: str) -> cloud_pb2.RerankRequest:
    copy = cloud_pb2.RerankRequest()
    copy.CopyFrom(request)
    copy.model_version = version
    return copy


def test_overload_sheds_with_retry_hint(repository: Path) -> None:
    tight = ServerThread(ServeSettings(repository=repository, port=0, max_queue=2, max_batch_size=1, max_delay_ms=0.0))
    try:
        rng = np.random.default_rng(6)
        requests = [_split_request(tight.running.repository.current, rng) for _ in range(64)]
        futures = [tight.stub.Rerank.future(r, timeout=30) for r in requests]
        codes, hints = [], []
        for future in futures:
            try:
                future.result()
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as err:
                codes.append(err.code())
                hints += [v for k, v in (err.trailing_metadata() or ()) if k == "retry-after-ms"]
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes and grpc.StatusCode.OK in codes
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert hints and all(int(h) >= 1 for h in hints)
    finally:
        tight.close()


def test_excess_calls_are_shed_before_any_handler_and_none_hang(repository: Path) -> None:
    """Past the concurrency bound (from the queue's capacity) gRPC itself answers RESOURCE_EXHAUSTED
    without running a handler; the handler sheds, with a retry hint, only what the bound lets in; every
    call ends answered or shed, none runs into its deadline or is cancelled."""
    settings = ServeSettings(repository=repository, port=0, max_queue=2, max_batch_size=1, max_delay_ms=0.0)
    bound = in_flight_limit(settings.max_queue, settings.max_batch_size)
    tight = ServerThread(settings)
    try:
        rng = np.random.default_rng(7)
        requests = [_split_request(tight.running.repository.current, rng) for _ in range(200)]
        outcomes = []
        for future in [tight.stub.Rerank.future(r, timeout=30) for r in requests]:
            try:
                future.result()
                outcomes.append(("OK", False))
            except grpc.RpcError as err:
                outcomes.append((err.code().name, any(k == "retry-after-ms" for k, _ in err.trailing_metadata() or ())))
        codes = {code for code, _ in outcomes}
        assert codes <= {"OK", "RESOURCE_EXHAUSTED"}, f"calls hung or failed: {codes}"
        handled = sum(count for (method, _), count in tight.running.metrics.requests.items() if method == "Rerank")
        before_handler = [hinted for code, hinted in outcomes if code == "RESOURCE_EXHAUSTED" and not hinted]
        assert before_handler, f"nothing was shed before a handler ran (bound {bound}, 200 calls at once)"
        assert handled == len(outcomes) - len(before_handler), "a call shed by gRPC's bound reached a handler"
        assert any(hinted for _, hinted in outcomes), "the handler shed nothing: the bound lets in more than the queue takes"
    finally:
        tight.close()


def test_compact_candidates_rerank_like_plain_lists_and_bad_ones_are_refused(server: ServerThread) -> None:
    from core.codec import decode_ids, encode_ids

    models = server.running.repository.current
    plain = _split_request(models, np.random.default_rng(11), k=5, encoding=FLOAT32)
    ids, order = encode_ids(np.array(plain.candidate_ids))
    scores = np.array(plain.edge_scores, np.float32)[order]
    compact = cloud_pb2.RerankRequest(user_embedding=plain.user_embedding, k=5, unix_time_s=plain.unix_time_s,
                                      compact_candidates=cloud_pb2.CompactCandidates(ids_delta=ids, scores=encode(scores, FLOAT32).to_proto()))
    assert list(server.stub.Rerank(compact).item_ids) == list(server.stub.Rerank(plain).item_ids)
    assert len(decode_ids(ids, max_count=64)) == len(plain.candidate_ids)
    for bad, message in ((cloud_pb2.RerankRequest(user_embedding=plain.user_embedding, k=5, compact_candidates=cloud_pb2.CompactCandidates(
            ids_delta=ids + b"\x80", scores=compact.compact_candidates.scores)), "middle of a varint"),
                         (cloud_pb2.RerankRequest(user_embedding=plain.user_embedding, k=5, candidate_ids=[1],
                                                  compact_candidates=compact.compact_candidates), "not both")):
        with pytest.raises(grpc.RpcError) as err:
            server.stub.Rerank(bad)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in err.value.details()
