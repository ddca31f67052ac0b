"""Arbitrary bytes never crash message parsing: they parse or raise DecodeError, nothing else."""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from protos.v1 import agent_pb2, cloud_pb2, fleet_pb2

MESSAGES = [agent_pb2.RankRequest, cloud_pb2.RerankRequest, cloud_pb2.FullRankRequest, fleet_pb2.Telemetry,
            fleet_pb2.DeviceConfig, fleet_pb2.ModelRelease, fleet_pb2.DeviceState, fleet_pb2.Ack]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.__name__)
@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=256))
def test_random_bytes_parse_or_raise_decode_error(message: type, payload: bytes) -> None:
    try:
        parsed = message.FromString(payload)
    except DecodeError:
        return
    assert message.FromString(parsed.SerializeToString()) == parsed


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.integers(0, 2**32 - 1), max_size=64), scores=st.lists(st.floats(width=32, allow_nan=False), max_size=64),
       k=st.integers(0, 2**32 - 1), blob=st.binary(max_size=64))
def test_rerank_request_round_trips(ids: list[int], scores: list[float], k: int, blob: bytes) -> None:
    request = cloud_pb2.RerankRequest(candidate_ids=ids, edge_scores=scores, k=k,
                                      user_embedding=cloud_pb2.QuantizedEmbedding(encoding=cloud_pb2.EMBEDDING_ENCODING_INT8, values=blob))
    assert cloud_pb2.RerankRequest.FromString(request.SerializeToString()) == request
