"""Settings of ``splitrank serve-cloud``: one frozen class, read from ``[serve]``, ``SPLITRANK_CLOUD_*`` and flags.
Light to import: the CLI derives its flags from it without loading the server."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from pydantic_settings import SettingsConfigDict

from core.bundle import DEFAULT_REPOSITORY
from core.settings import Port, ProgramSettings

DEFAULT_MAX_BATCH_SIZE = 32
"""Largest batch per model call. 32, not 64: at 64 concurrent clients the batches average 15-18 calls either way
(throughput within 2%), but at twice the capacity batches fill to the cap and an accepted call waits up to two of
them: the overload p99 was 2.7-3.5x the half-load p99 at 64 and 1.6-2.3x at 32 (``splitrank bench cloud``, README)."""


class ServeSettings(ProgramSettings):
    """Settings of ``splitrank serve-cloud``: TOML table ``[serve]``, env ``SPLITRANK_CLOUD_<NAME>``, flags."""

    model_config = SettingsConfigDict(env_prefix="SPLITRANK_CLOUD_")
    toml_table: ClassVar[str] = "serve"

    repository: Path = Field(DEFAULT_REPOSITORY, description="Model repository; the newest valid bundle serves.")
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: Port = Field(50051, description="gRPC port; 0 picks a free one.")
    max_batch_size: PositiveInt = Field(DEFAULT_MAX_BATCH_SIZE, description="Largest batch per model call.")
    max_delay_ms: NonNegativeFloat = Field(2.0, description="How long a partial batch may wait for more requests.")
    max_queue: NonNegativeInt = Field(512, description="Queued requests before RESOURCE_EXHAUSTED.")
    max_queue_wait_ms: NonNegativeFloat = Field(50.0, description="A request whose estimated queue wait exceeds this is shed at once (RESOURCE_EXHAUSTED).")
    min_time_left_ms: NonNegativeFloat = Field(1.0, description="Calls with less deadline left than this are refused at once.")
    max_request_bytes: PositiveInt = Field(64 * 1024, description="Largest request the service accepts.")
    max_message_bytes: PositiveInt = Field(4 * 1024 * 1024, description="gRPC's send and receive message limit.")
    poll_interval_s: PositiveFloat = Field(5.0, description="Seconds between two looks for a new model version.")
    keep_versions: PositiveInt = Field(2, description="Model versions kept loaded (requests may pin one).")
    grace_s: NonNegativeFloat = Field(5.0, description="Seconds in-flight calls get to finish on SIGTERM.")
    metrics_port: Port = Field(0, description="Prometheus metrics over HTTP on this port; 0 = off; worker i uses port + i.")
    tls_cert_file: str | None = Field(None, description="PEM certificate: serve TLS (needs tls_key_file).")
    tls_key_file: str | None = Field(None, description="PEM private key of tls_cert_file.")
    tls_client_ca_file: str | None = Field(None, description="PEM CA bundle: require client certificates (mTLS).")
    engine: Literal["standalone", "ray"] = Field("standalone", description="standalone: this grpc.aio server; ray: a Ray Serve app "
                                                 "behind Serve's gRPC ingress (needs the [ray] extra).")
    ray_address: str | None = Field(None, description="Ray cluster to deploy to (ray://host:10001 or auto); none: a local Ray.")
    ray_num_cpus: PositiveInt = Field(2, description="CPUs of the local Ray started when ray_address is none.")
    ray_replicas: PositiveInt = Field(1, description="Replicas of the Ray Serve deployment (the minimum, with autoscaling).")
    ray_max_replicas: NonNegativeInt = Field(0, description="Autoscale the Ray deployment up to this many replicas; 0 = fixed replicas.")
    ray_replica_cpus: PositiveFloat = Field(0.5, description="CPUs Ray reserves per replica (fractional: several fit on a small machine).")
    ray_http_port: Port = Field(8000, description="Port of Ray Serve's HTTP proxy (unused by splitrank; Ray always starts it).")
