from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Route(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROUTE_UNSPECIFIED: _ClassVar[Route]
    ROUTE_LOCAL: _ClassVar[Route]
    ROUTE_SPLIT: _ClassVar[Route]
    ROUTE_CLOUD: _ClassVar[Route]
ROUTE_UNSPECIFIED: Route
ROUTE_LOCAL: Route
ROUTE_SPLIT: Route
ROUTE_CLOUD: Route

class HistoryItem(_message.Message):
    __slots__ = ("item_id", "age_days", "count")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    age_days: float
    count: float
    def __init__(self, item_id: _Optional[str] = ..., age_days: _Optional[float] = ..., count: _Optional[float] = ...) -> None: ...

class RequestContext(_message.Message):
    __slots__ = ("unix_time_s", "days_since_last_basket", "previous_baskets")
    UNIX_TIME_S_FIELD_NUMBER: _ClassVar[int]
    DAYS_SINCE_LAST_BASKET_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_BASKETS_FIELD_NUMBER: _ClassVar[int]
    unix_time_s: int
    days_since_last_basket: float
    previous_baskets: int
    def __init__(self, unix_time_s: _Optional[int] = ..., days_since_last_basket: _Optional[float] = ..., previous_baskets: _Optional[int] = ...) -> None: ...

class LoadHint(_message.Message):
    __slots__ = ("queue_depth", "estimated_wait_ms", "queue_capacity")
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    queue_depth: int
    estimated_wait_ms: float
    queue_capacity: int
    def __init__(self, queue_depth: _Optional[int] = ..., estimated_wait_ms: _Optional[float] = ..., queue_capacity: _Optional[int] = ...) -> None: ...
