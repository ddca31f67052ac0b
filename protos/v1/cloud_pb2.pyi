from protos.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EmbeddingEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMBEDDING_ENCODING_UNSPECIFIED: _ClassVar[EmbeddingEncoding]
    EMBEDDING_ENCODING_FLOAT32: _ClassVar[EmbeddingEncoding]
    EMBEDDING_ENCODING_INT8: _ClassVar[EmbeddingEncoding]
    EMBEDDING_ENCODING_INT4: _ClassVar[EmbeddingEncoding]
EMBEDDING_ENCODING_UNSPECIFIED: EmbeddingEncoding
EMBEDDING_ENCODING_FLOAT32: EmbeddingEncoding
EMBEDDING_ENCODING_INT8: EmbeddingEncoding
EMBEDDING_ENCODING_INT4: EmbeddingEncoding

class QuantizedEmbedding(_message.Message):
    __slots__ = ("encoding", "dim", "scale", "values")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    encoding: EmbeddingEncoding
    dim: int
    scale: float
    values: bytes
    def __init__(self, encoding: _Optional[_Union[EmbeddingEncoding, str]] = ..., dim: _Optional[int] = ..., scale: _Optional[float] = ..., values: _Optional[bytes] = ...) -> None: ...

class CompactCandidates(_message.Message):
    __slots__ = ("ids_delta", "scores")
    IDS_DELTA_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    ids_delta: bytes
    scores: QuantizedEmbedding
    def __init__(self, ids_delta: _Optional[bytes] = ..., scores: _Optional[_Union[QuantizedEmbedding, _Mapping]] = ...) -> None: ...

class RerankRequest(_message.Message):
    __slots__ = ("user_embedding", "candidate_ids", "edge_scores", "compact_candidates", "k", "model_version", "unix_time_s", "device_id", "prior_version", "prior_day_unix_s")
    USER_EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_IDS_FIELD_NUMBER: _ClassVar[int]
    EDGE_SCORES_FIELD_NUMBER: _ClassVar[int]
    COMPACT_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    UNIX_TIME_S_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    PRIOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRIOR_DAY_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    user_embedding: QuantizedEmbedding
    candidate_ids: _containers.RepeatedScalarFieldContainer[int]
    edge_scores: _containers.RepeatedScalarFieldContainer[float]
    compact_candidates: CompactCandidates
    k: int
    model_version: str
    unix_time_s: int
    device_id: str
    prior_version: int
    prior_day_unix_s: int
    def __init__(self, user_embedding: _Optional[_Union[QuantizedEmbedding, _Mapping]] = ..., candidate_ids: _Optional[_Iterable[int]] = ..., edge_scores: _Optional[_Iterable[float]] = ..., compact_candidates: _Optional[_Union[CompactCandidates, _Mapping]] = ..., k: _Optional[int] = ..., model_version: _Optional[str] = ..., unix_time_s: _Optional[int] = ..., device_id: _Optional[str] = ..., prior_version: _Optional[int] = ..., prior_day_unix_s: _Optional[int] = ...) -> None: ...

class CloudHistoryItem(_message.Message):
    __slots__ = ("item_id", "age_days", "count")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    item_id: int
    age_days: float
    count: float
    def __init__(self, item_id: _Optional[int] = ..., age_days: _Optional[float] = ..., count: _Optional[float] = ...) -> None: ...

class FullRankRequest(_message.Message):
    __slots__ = ("history", "context", "k", "model_version", "device_id")
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    history: _containers.RepeatedCompositeFieldContainer[CloudHistoryItem]
    context: _common_pb2.RequestContext
    k: int
    model_version: str
    device_id: str
    def __init__(self, history: _Optional[_Iterable[_Union[CloudHistoryItem, _Mapping]]] = ..., context: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., k: _Optional[int] = ..., model_version: _Optional[str] = ..., device_id: _Optional[str] = ...) -> None: ...

class CloudRankResponse(_message.Message):
    __slots__ = ("item_ids", "scores", "model_version", "load", "queue_ms", "compute_ms")
    ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MS_FIELD_NUMBER: _ClassVar[int]
    item_ids: _containers.RepeatedScalarFieldContainer[int]
    scores: _containers.RepeatedScalarFieldContainer[float]
    model_version: str
    load: _common_pb2.LoadHint
    queue_ms: float
    compute_ms: float
    def __init__(self, item_ids: _Optional[_Iterable[int]] = ..., scores: _Optional[_Iterable[float]] = ..., model_version: _Optional[str] = ..., load: _Optional[_Union[_common_pb2.LoadHint, _Mapping]] = ..., queue_ms: _Optional[float] = ..., compute_ms: _Optional[float] = ...) -> None: ...
