from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeviceState(_message.Message):
    __slots__ = ("device_id", "online", "model_version", "profile", "policy", "unix_time_s", "config_revision", "prior_version", "prior_day_unix_s", "prior_refused_reason")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    UNIX_TIME_S_FIELD_NUMBER: _ClassVar[int]
    CONFIG_REVISION_FIELD_NUMBER: _ClassVar[int]
    PRIOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRIOR_DAY_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    PRIOR_REFUSED_REASON_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    online: bool
    model_version: str
    profile: str
    policy: str
    unix_time_s: int
    config_revision: int
    prior_version: int
    prior_day_unix_s: int
    prior_refused_reason: str
    def __init__(self, device_id: _Optional[str] = ..., online: _Optional[bool] = ..., model_version: _Optional[str] = ..., profile: _Optional[str] = ..., policy: _Optional[str] = ..., unix_time_s: _Optional[int] = ..., config_revision: _Optional[int] = ..., prior_version: _Optional[int] = ..., prior_day_unix_s: _Optional[int] = ..., prior_refused_reason: _Optional[str] = ...) -> None: ...

class Telemetry(_message.Message):
    __slots__ = ("device_id", "seq", "unix_time_s", "requests_local", "requests_split", "requests_cloud", "degraded", "errors", "cloud_bytes_up", "cloud_bytes_down", "latency_bucket_counts", "latency_bucket_bounds_us", "energy_joules", "model_version", "sent_at_s", "dropped_before", "prior_version", "prior_day_unix_s", "prior_age_days", "prior_refused", "prior_refused_reason", "malformed_received")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    UNIX_TIME_S_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_LOCAL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_SPLIT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_CLOUD_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    CLOUD_BYTES_UP_FIELD_NUMBER: _ClassVar[int]
    CLOUD_BYTES_DOWN_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BUCKET_COUNTS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BUCKET_BOUNDS_US_FIELD_NUMBER: _ClassVar[int]
    ENERGY_JOULES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_S_FIELD_NUMBER: _ClassVar[int]
    DROPPED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    PRIOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRIOR_DAY_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    PRIOR_AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    PRIOR_REFUSED_FIELD_NUMBER: _ClassVar[int]
    PRIOR_REFUSED_REASON_FIELD_NUMBER: _ClassVar[int]
    MALFORMED_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    seq: int
    unix_time_s: int
    requests_local: int
    requests_split: int
    requests_cloud: int
    degraded: int
    errors: int
    cloud_bytes_up: int
    cloud_bytes_down: int
    latency_bucket_counts: _containers.RepeatedScalarFieldContainer[int]
    latency_bucket_bounds_us: _containers.RepeatedScalarFieldContainer[int]
    energy_joules: float
    model_version: str
    sent_at_s: float
    dropped_before: int
    prior_version: int
    prior_day_unix_s: int
    prior_age_days: float
    prior_refused: int
    prior_refused_reason: str
    malformed_received: int
    def __init__(self, device_id: _Optional[str] = ..., seq: _Optional[int] = ..., unix_time_s: _Optional[int] = ..., requests_local: _Optional[int] = ..., requests_split: _Optional[int] = ..., requests_cloud: _Optional[int] = ..., degraded: _Optional[int] = ..., errors: _Optional[int] = ..., cloud_bytes_up: _Optional[int] = ..., cloud_bytes_down: _Optional[int] = ..., latency_bucket_counts: _Optional[_Iterable[int]] = ..., latency_bucket_bounds_us: _Optional[_Iterable[int]] = ..., energy_joules: _Optional[float] = ..., model_version: _Optional[str] = ..., sent_at_s: _Optional[float] = ..., dropped_before: _Optional[int] = ..., prior_version: _Optional[int] = ..., prior_day_unix_s: _Optional[int] = ..., prior_age_days: _Optional[float] = ..., prior_refused: _Optional[int] = ..., prior_refused_reason: _Optional[str] = ..., malformed_received: _Optional[int] = ...) -> None: ...

class DeviceConfig(_message.Message):
    __slots__ = ("revision", "policy", "cloud_fraction_target", "usd_per_hour_budget", "cloud_endpoints", "pinned_model_version", "cloud_timeout_ms", "budget_multiplier")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CLOUD_FRACTION_TARGET_FIELD_NUMBER: _ClassVar[int]
    USD_PER_HOUR_BUDGET_FIELD_NUMBER: _ClassVar[int]
    CLOUD_ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    PINNED_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CLOUD_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    revision: int
    policy: str
    cloud_fraction_target: float
    usd_per_hour_budget: float
    cloud_endpoints: _containers.RepeatedScalarFieldContainer[str]
    pinned_model_version: str
    cloud_timeout_ms: float
    budget_multiplier: float
    def __init__(self, revision: _Optional[int] = ..., policy: _Optional[str] = ..., cloud_fraction_target: _Optional[float] = ..., usd_per_hour_budget: _Optional[float] = ..., cloud_endpoints: _Optional[_Iterable[str]] = ..., pinned_model_version: _Optional[str] = ..., cloud_timeout_ms: _Optional[float] = ..., budget_multiplier: _Optional[float] = ...) -> None: ...

class ModelRelease(_message.Message):
    __slots__ = ("release_id", "model_version", "url", "sha256", "signature", "chunk_index", "chunk_count", "chunk", "health_window_s")
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    HEALTH_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    release_id: str
    model_version: str
    url: str
    sha256: bytes
    signature: bytes
    chunk_index: int
    chunk_count: int
    chunk: bytes
    health_window_s: int
    def __init__(self, release_id: _Optional[str] = ..., model_version: _Optional[str] = ..., url: _Optional[str] = ..., sha256: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., chunk_index: _Optional[int] = ..., chunk_count: _Optional[int] = ..., chunk: _Optional[bytes] = ..., health_window_s: _Optional[int] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("device_id", "release_id", "status", "model_version", "reason")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Ack.Status]
        STATUS_INSTALLED: _ClassVar[Ack.Status]
        STATUS_ROLLED_BACK: _ClassVar[Ack.Status]
        STATUS_REJECTED: _ClassVar[Ack.Status]
    STATUS_UNSPECIFIED: Ack.Status
    STATUS_INSTALLED: Ack.Status
    STATUS_ROLLED_BACK: Ack.Status
    STATUS_REJECTED: Ack.Status
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    release_id: str
    status: Ack.Status
    model_version: str
    reason: str
    def __init__(self, device_id: _Optional[str] = ..., release_id: _Optional[str] = ..., status: _Optional[_Union[Ack.Status, str]] = ..., model_version: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PriorUpdate(_message.Message):
    __slots__ = ("version", "day_unix_s", "n_items", "scale", "encoding", "base_version", "values", "published_unix_s")
    class Encoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ENCODING_UNSPECIFIED: _ClassVar[PriorUpdate.Encoding]
        ENCODING_INT8_ZLIB: _ClassVar[PriorUpdate.Encoding]
        ENCODING_DELTA_INT8_ZLIB: _ClassVar[PriorUpdate.Encoding]
    ENCODING_UNSPECIFIED: PriorUpdate.Encoding
    ENCODING_INT8_ZLIB: PriorUpdate.Encoding
    ENCODING_DELTA_INT8_ZLIB: PriorUpdate.Encoding
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DAY_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    N_ITEMS_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    BASE_VERSION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    version: int
    day_unix_s: int
    n_items: int
    scale: float
    encoding: PriorUpdate.Encoding
    base_version: int
    values: bytes
    published_unix_s: int
    def __init__(self, version: _Optional[int] = ..., day_unix_s: _Optional[int] = ..., n_items: _Optional[int] = ..., scale: _Optional[float] = ..., encoding: _Optional[_Union[PriorUpdate.Encoding, str]] = ..., base_version: _Optional[int] = ..., values: _Optional[bytes] = ..., published_unix_s: _Optional[int] = ...) -> None: ...

class PriorPush(_message.Message):
    __slots__ = ("update", "sha256", "signature")
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    update: bytes
    sha256: bytes
    signature: bytes
    def __init__(self, update: _Optional[bytes] = ..., sha256: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ManagerPresence(_message.Message):
    __slots__ = ("manager_id", "group", "client_id", "online")
    MANAGER_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    manager_id: str
    group: str
    client_id: str
    online: bool
    def __init__(self, manager_id: _Optional[str] = ..., group: _Optional[str] = ..., client_id: _Optional[str] = ..., online: _Optional[bool] = ...) -> None: ...

class IngestCheckpoint(_message.Message):
    __slots__ = ("manager_id", "number", "counted", "lag_s")
    MANAGER_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    LAG_S_FIELD_NUMBER: _ClassVar[int]
    manager_id: str
    number: int
    counted: _containers.RepeatedCompositeFieldContainer[Telemetry]
    lag_s: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, manager_id: _Optional[str] = ..., number: _Optional[int] = ..., counted: _Optional[_Iterable[_Union[Telemetry, _Mapping]]] = ..., lag_s: _Optional[_Iterable[float]] = ...) -> None: ...

class RolloutLease(_message.Message):
    __slots__ = ("holder", "token", "expires_at_s", "release_id")
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_S_FIELD_NUMBER: _ClassVar[int]
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    holder: str
    token: str
    expires_at_s: float
    release_id: str
    def __init__(self, holder: _Optional[str] = ..., token: _Optional[str] = ..., expires_at_s: _Optional[float] = ..., release_id: _Optional[str] = ...) -> None: ...
