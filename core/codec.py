"""The codecs of the split route: the user embedding (one scale per vector, int8 or 4-bit values) and
the compact candidate list (delta-coded sorted ids, quantized scores).

Encoding maps x to round(x / scale) with scale = max|x| / qmax (qmax 127 for int8, 7 for int4), so
every element decodes within scale / 2 of its value: |x - decode(encode(x))| <= max|x| / (2 * qmax).
4-bit values are packed two per byte, low nibble first, as two's complement. Candidate ids are sorted
and sent as varint gaps (a catalogue of a few thousand items and 64 candidates: about one byte each).
Pure numpy: the device encodes, the cloud decodes, with the same code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from protos.v1 import cloud_pb2

FLOAT32 = cloud_pb2.EMBEDDING_ENCODING_FLOAT32
INT8 = cloud_pb2.EMBEDDING_ENCODING_INT8
INT4 = cloud_pb2.EMBEDDING_ENCODING_INT4
_QMAX = {INT8: 127, INT4: 7}
_FLOAT32_MAX = float(np.finfo(np.float32).max)  # looked up once: np.finfo costs microseconds on every decode


class CodecError(ValueError):
    """An encoded embedding is malformed: wrong size, bad scale, unknown encoding."""


@dataclass(frozen=True)
class Encoded:
    """An encoded vector, as it travels in ``QuantizedEmbedding``."""

    encoding: cloud_pb2.EmbeddingEncoding
    dim: int
    scale: float
    values: bytes

    def to_proto(self) -> cloud_pb2.QuantizedEmbedding:
        """The wire message."""
        return cloud_pb2.QuantizedEmbedding(encoding=self.encoding, dim=self.dim, scale=self.scale, values=self.values)


def encode(vector: np.ndarray, encoding: cloud_pb2.EmbeddingEncoding = INT8) -> Encoded:
    """Quantize a float vector."""
    x = np.asarray(vector, np.float32).ravel()
    if encoding == FLOAT32:
        return Encoded(FLOAT32, x.size, 1.0, x.astype("<f4").tobytes())
    if encoding not in _QMAX:
        raise CodecError(f"unknown embedding encoding {encoding}")
    if not np.isfinite(x).all():
        raise CodecError("cannot encode a vector with NaN or infinite values")
    qmax = _QMAX[encoding]
    peak = float(np.abs(x).max(initial=0.0))
    # The wire's scale is a float32: keep it a normal float32, or tiny vectors would send scale 0.
    scale = float(max(np.float32(peak / qmax), np.finfo(np.float32).tiny)) if peak > 0 else 1.0
    q = np.clip(np.rint(x / scale), -qmax, qmax).astype(np.int8)
    if encoding == INT8:
        return Encoded(INT8, x.size, scale, q.tobytes())
    nibbles = (q.astype(np.uint8) & 0x0F)
    if nibbles.size % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    return Encoded(INT4, x.size, scale, (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8).tobytes())


def check(message: cloud_pb2.QuantizedEmbedding | Encoded) -> None:
    """Raise CodecError saying what is wrong with an encoded vector, without decoding it (a float32 one is read,
    to refuse NaN and infinite values): what ``decode`` and ``decode_rows`` accept."""
    encoding, dim, scale, values = message.encoding, message.dim, message.scale, message.values
    if dim <= 0:
        raise CodecError("embedding dim must be positive")
    if encoding == FLOAT32:
        if len(values) != 4 * dim:
            raise CodecError(f"float32 embedding of dim {dim} needs {4 * dim} bytes, got {len(values)}")
        if not np.isfinite(np.frombuffer(values, "<f4")).all():
            raise CodecError("embedding has NaN or infinite values")
        return
    if encoding not in _QMAX:
        raise CodecError(f"unknown embedding encoding {encoding}")
    if not math.isfinite(scale) or scale <= 0:
        raise CodecError(f"embedding scale must be finite and > 0, got {scale}")
    if scale * _QMAX[encoding] > _FLOAT32_MAX:
        raise CodecError(f"embedding scale {scale} overflows float32")
    size = dim if encoding == INT8 else (dim + 1) // 2
    if len(values) != size:
        raise CodecError(f"{'int8' if encoding == INT8 else 'int4'} embedding of dim {dim} needs {size} bytes, got {len(values)}")


def decode(message: cloud_pb2.QuantizedEmbedding | Encoded) -> np.ndarray:
    """float32 [dim] from an encoded vector; raises CodecError saying what is wrong."""
    check(message)
    return _decode_checked(message)


def _decode_checked(message: cloud_pb2.QuantizedEmbedding | Encoded) -> np.ndarray:
    encoding, dim, values = message.encoding, message.dim, message.values
    if encoding == FLOAT32:
        return np.frombuffer(values, "<f4").astype(np.float32)
    if encoding == INT8:
        return np.multiply(np.frombuffer(values, np.int8), np.float32(message.scale), dtype=np.float32)
    packed = np.frombuffer(values, np.uint8)
    nibbles = np.empty(packed.size * 2, np.int8)
    nibbles[0::2] = (packed & 0x0F).astype(np.int8)
    nibbles[1::2] = (packed >> 4).astype(np.int8)
    nibbles[nibbles > 7] -= 16
    return nibbles[:dim].astype(np.float32) * np.float32(message.scale)


def decode_rows(messages: Sequence[cloud_pb2.QuantizedEmbedding | Encoded]) -> np.ndarray:
    """float32 [rows, dim] from vectors that passed ``check``, all of one dim: int8 rows, the usual case, are
    decoded together, in a few numpy calls for the whole batch."""
    dim = messages[0].dim
    if any(message.dim != dim for message in messages):
        raise CodecError(f"embeddings of dims {sorted({message.dim for message in messages})} cannot form one batch")
    if all(message.encoding == INT8 for message in messages):
        rows = np.frombuffer(b"".join(message.values for message in messages), np.int8).reshape(len(messages), dim)
        return np.multiply(rows, np.array([[message.scale] for message in messages], np.float32), dtype=np.float32)
    return np.stack([_decode_checked(message) for message in messages])


def encode_ids(ids: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Varint gaps of the ids sorted ascending, and the sort order (apply it to anything sent beside them)."""
    values = np.asarray(ids, np.int64).ravel()
    if (values < 0).any():
        raise CodecError("ids must be >= 0")
    order = np.argsort(values, kind="stable")
    out = bytearray()
    previous = 0
    for value in values[order].tolist():
        gap = value - previous
        previous = value
        while gap >= 0x80:
            out.append((gap & 0x7F) | 0x80)
            gap >>= 7
        out.append(gap)
    return bytes(out), order


def decode_ids(data: bytes, *, max_count: int) -> list[int]:
    """The ids of ``encode_ids``, ascending; raises CodecError on truncated varints or more than ``max_count`` ids.
    A plain list: the cloud checks a few dozen ids faster in Python than through numpy calls."""
    ids: list[int] = []
    value = shift = previous = 0
    for byte in data:
        if shift > 35:
            raise CodecError("candidate id varint is longer than 5 bytes")
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        previous += value
        ids.append(previous)
        if len(ids) > max_count:
            raise CodecError(f"more than {max_count} candidate ids")
        value = shift = 0
    if shift:
        raise CodecError("candidate ids end in the middle of a varint")
    return ids
