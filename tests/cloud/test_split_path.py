"""The split route's serving path (validated lists in, one model call per batch, answers sorted in Python)
gives what the array API and numpy give: same scores, same order, same decoded embeddings, same metrics text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client import generate_latest

from cloud.serving.metrics import ServerMetrics
from cloud.serving.scoring import ServingModels
from cloud.serving.service import answer_rerank
from cloud.serving.validation import validate_rerank
from core.codec import FLOAT32, INT4, INT8, CodecError, decode, decode_rows, encode
from protos.v1 import cloud_pb2

DAY_S = 86400


@pytest.fixture(scope="module")
def models(tiny_bundle: Path) -> ServingModels:
    return ServingModels(tiny_bundle)


def _call(models: ServingModels, rng: np.random.Generator, width: int, encoding: int, prior_day: int, unix_time_s: int) -> cloud_pb2.RerankRequest:
    ids = rng.choice(np.arange(1, models.catalogue_size), size=width, replace=False)
    return cloud_pb2.RerankRequest(user_embedding=encode(rng.normal(size=models.embedding_dim), encoding).to_proto(),
                                   candidate_ids=ids.tolist(), edge_scores=rng.normal(size=width).astype(np.float32).tolist(),
                                   k=min(5, width), unix_time_s=unix_time_s, prior_day_unix_s=prior_day)


@pytest.mark.parametrize("rows", [1, 3, 33])
def test_rerank_calls_scores_each_call_as_the_array_api_does(models: ServingModels, rows: int) -> None:
    rng = np.random.default_rng(rows)
    start = int(models.trend_start.timestamp())
    requests = [_call(models, rng, width=int(rng.integers(2, models.candidates + 1)), encoding=(INT8, INT4, FLOAT32)[row % 3],
                      prior_day=0 if row % 2 else start + 5 * DAY_S, unix_time_s=0 if row % 4 == 0 else start + 9 * DAY_S)
                for row in range(rows)]
    calls = [validate_rerank(request, models, max_bytes=1 << 20) for request in requests]
    served = models.rerank_calls(calls)
    for call, request, scores in zip(calls, requests, served, strict=True):
        direct = models.rerank(decode(request.user_embedding)[None], np.array([call.ids], np.int32), np.array([call.edge_scores], np.float32),
                               np.array([call.unix_time_s]), np.array([call.prior_day_unix_s]))[0]
        assert len(scores) == len(call.ids)
        np.testing.assert_allclose(scores, direct, rtol=1e-5, atol=1e-5)


def test_the_answer_is_numpys_stable_order_with_ties_and_infinities(models: ServingModels) -> None:
    scores = [0.5, 2.0, -np.inf, 2.0, 0.5, np.inf, -1.0, 0.5]
    call = validate_rerank(cloud_pb2.RerankRequest(user_embedding=encode(np.ones(models.embedding_dim), INT8).to_proto(),
                                                   candidate_ids=list(range(1, 9)), edge_scores=[0.0] * 8, k=6), models, max_bytes=1 << 20)
    ids, values = answer_rerank(call, scores)
    order = np.argsort(-np.array(scores), kind="stable")[:6]
    assert ids == [call.ids[i] for i in order]
    assert values == [scores[i] for i in order]


def test_decode_rows_is_decode_row_by_row() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(5, 9))
    for encodings in ([INT8] * 5, [INT8, INT4, FLOAT32, INT8, INT4]):
        messages = [encode(vector, encoding).to_proto() for vector, encoding in zip(vectors, encodings, strict=True)]
        decoded = decode_rows(messages)
        assert decoded.dtype == np.float32
        np.testing.assert_array_equal(decoded, np.stack([decode(message) for message in messages]))
    with pytest.raises(CodecError, match="dims"):
        decode_rows([encode(np.ones(4), INT8).to_proto(), encode(np.ones(6), INT8).to_proto()])


def test_metrics_text_names_every_count() -> None:
    metrics = ServerMetrics()
    metrics.count("Rerank", "OK")
    metrics.count("Rerank", "OK")
    metrics.count("Rerank", "RESOURCE_EXHAUSTED")
    observer = metrics.observer("reranker")
    observer.on_batch(3, (0.0004, 0.0012, 0.003), 0.0015)
    observer.on_rejected()
    text = generate_latest(metrics.registry).decode()
    assert 'splitrank_requests_total{code="OK",method="Rerank"} 2.0' in text
    assert 'splitrank_requests_total{code="RESOURCE_EXHAUSTED",method="Rerank"} 1.0' in text
    assert 'splitrank_batch_size_bucket{le="2.0",model="reranker"} 0.0' in text
    assert 'splitrank_batch_size_bucket{le="4.0",model="reranker"} 1.0' in text
    assert 'splitrank_batch_size_bucket{le="+Inf",model="reranker"} 1.0' in text
    assert 'splitrank_queue_seconds_bucket{le="0.001",model="reranker"} 1.0' in text
    assert 'splitrank_queue_seconds_count{model="reranker"} 3.0' in text
    assert 'splitrank_compute_seconds_sum{model="reranker"} 0.0015' in text
    assert 'splitrank_rejected_total{model="reranker"} 1.0' in text
    assert 'splitrank_expired_total{model="teacher"} 0.0' in text
