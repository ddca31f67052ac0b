from protos.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RankRequest(_message.Message):
    __slots__ = ("user_id", "history", "compact_history", "context", "k", "route", "value")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    COMPACT_HISTORY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    history: History
    compact_history: CompactHistory
    context: _common_pb2.RequestContext
    k: int
    route: _common_pb2.Route
    value: float
    def __init__(self, user_id: _Optional[str] = ..., history: _Optional[_Union[History, _Mapping]] = ..., compact_history: _Optional[_Union[CompactHistory, _Mapping]] = ..., context: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., k: _Optional[int] = ..., route: _Optional[_Union[_common_pb2.Route, str]] = ..., value: _Optional[float] = ...) -> None: ...

class History(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.HistoryItem]
    def __init__(self, items: _Optional[_Iterable[_Union[_common_pb2.HistoryItem, _Mapping]]] = ...) -> None: ...

class CompactHistory(_message.Message):
    __slots__ = ("item_ids", "age_days", "counts")
    ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    item_ids: _containers.RepeatedScalarFieldContainer[str]
    age_days: _containers.RepeatedScalarFieldContainer[float]
    counts: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, item_ids: _Optional[_Iterable[str]] = ..., age_days: _Optional[_Iterable[float]] = ..., counts: _Optional[_Iterable[float]] = ...) -> None: ...

class RankedItem(_message.Message):
    __slots__ = ("item_id", "score")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    score: float
    def __init__(self, item_id: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class Timings(_message.Message):
    __slots__ = ("edge_us", "router_us", "cloud_us", "total_us")
    EDGE_US_FIELD_NUMBER: _ClassVar[int]
    ROUTER_US_FIELD_NUMBER: _ClassVar[int]
    CLOUD_US_FIELD_NUMBER: _ClassVar[int]
    TOTAL_US_FIELD_NUMBER: _ClassVar[int]
    edge_us: int
    router_us: int
    cloud_us: int
    total_us: int
    def __init__(self, edge_us: _Optional[int] = ..., router_us: _Optional[int] = ..., cloud_us: _Optional[int] = ..., total_us: _Optional[int] = ...) -> None: ...

class RankResponse(_message.Message):
    __slots__ = ("items", "route", "degraded", "degraded_reason", "timings", "model_version", "cloud_endpoint")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_REASON_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CLOUD_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[RankedItem]
    route: _common_pb2.Route
    degraded: bool
    degraded_reason: str
    timings: Timings
    model_version: str
    cloud_endpoint: str
    def __init__(self, items: _Optional[_Iterable[_Union[RankedItem, _Mapping]]] = ..., route: _Optional[_Union[_common_pb2.Route, str]] = ..., degraded: _Optional[bool] = ..., degraded_reason: _Optional[str] = ..., timings: _Optional[_Union[Timings, _Mapping]] = ..., model_version: _Optional[str] = ..., cloud_endpoint: _Optional[str] = ...) -> None: ...
