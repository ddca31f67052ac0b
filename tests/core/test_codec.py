"""The embedding codec keeps its documented error bound and rejects malformed input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.codec import FLOAT32, INT4, INT8, CodecError, decode, decode_ids, encode, encode_ids

vectors = arrays(np.float32, st.integers(1, 96), elements=st.floats(-50, 50, width=32))


@settings(max_examples=300, deadline=None)
@given(vector=vectors, encoding=st.sampled_from([INT8, INT4]))
def test_error_bound(vector: np.ndarray, encoding: int) -> None:
    qmax = 127 if encoding == INT8 else 7
    decoded = decode(encode(vector, encoding).to_proto())
    assert decoded.shape == vector.shape
    bound = np.abs(vector).max() / (2 * qmax) + 1e-6
    assert np.abs(decoded - vector).max() <= bound


def test_sizes_are_a_quarter_and_an_eighth() -> None:
    vector = np.random.default_rng(0).normal(size=64).astype(np.float32)
    assert len(encode(vector, FLOAT32).values) == 256
    assert len(encode(vector, INT8).values) == 64
    assert len(encode(vector, INT4).values) == 32
    np.testing.assert_array_equal(decode(encode(vector, FLOAT32)), vector)


@pytest.mark.parametrize("change, message", [
    ({"scale": float("nan")}, "scale must be finite"),
    ({"scale": 0.0}, "scale must be finite"),
    ({"dim": 9}, "needs 9 bytes"),
    ({"encoding": 99}, "unknown embedding encoding"),
    ({"dim": 0}, "dim must be positive"),
    ({"scale": 3e38}, "overflows float32"),  # found by fuzzing the cloud server: it decoded to inf and answered NaN scores
])
def test_malformed_messages_are_rejected(change: dict, message: str) -> None:
    proto = encode(np.ones(8, np.float32), INT8).to_proto()
    for key, value in change.items():
        setattr(proto, key, value)
    with pytest.raises(CodecError, match=message):
        decode(proto)


def test_denormal_vector_keeps_a_valid_scale() -> None:
    tiny = np.array([1e-45, -1e-45], np.float32)
    proto = encode(tiny, INT8).to_proto()
    assert proto.scale > 0
    np.testing.assert_allclose(decode(proto), tiny, atol=1e-38)


def test_zero_vector_and_nan_input() -> None:
    assert (decode(encode(np.zeros(4, np.float32))) == 0).all()
    with pytest.raises(CodecError, match="NaN"):
        encode(np.array([1.0, np.nan], np.float32))


@given(st.lists(st.integers(0, 2**31), min_size=0, max_size=80, unique=True))
def test_candidate_ids_round_trip(ids: list[int]) -> None:
    data, order = encode_ids(np.array(ids))
    decoded = decode_ids(data, max_count=80)
    np.testing.assert_array_equal(decoded, np.array(ids, np.int64)[order])
    assert list(decoded) == sorted(ids)


def test_truncated_or_oversized_id_lists_are_refused() -> None:
    data, _ = encode_ids(np.array([1, 300, 70000]))
    with pytest.raises(CodecError, match="middle of a varint"):
        decode_ids(data[:-1], max_count=10)
    with pytest.raises(CodecError, match="more than 2"):
        decode_ids(data, max_count=2)
