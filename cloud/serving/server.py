"""``splitrank serve-cloud``: the grpc.aio server around the CloudRanker service and its Open Inference
Protocol (KServe v2) twin.

Health checking (grpc.health.v1: NOT_SERVING while loading or draining), server reflection, message
size limits, TLS or mTLS by config, Prometheus metrics over HTTP, hot reload of new model versions,
and a graceful stop on SIGTERM / SIGINT that drains in-flight calls.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cloud.serving.core_admission import core_admission_options
from cloud.serving.metrics import ServerMetrics
from cloud.serving.open_inference import OpenInferenceService
from cloud.serving.repository import ModelRepository
from cloud.serving.scoring import ServingModels, compute_device
from cloud.serving.service import CloudRankerService
from cloud.serving.settings import ServeSettings
from core.rpc_guard import MalformedRequestGuard
from core.signals import until_stopped
from protos.kserve import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc
from protos.v1 import cloud_pb2, cloud_pb2_grpc

log = logging.getLogger("splitrank.cloud")
SERVICE_NAME = cloud_pb2.DESCRIPTOR.services_by_name["CloudRanker"].full_name
OPEN_INFERENCE_NAME = grpc_predict_v2_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
KEEPALIVE_POLICY = [("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.min_ping_interval_without_data_ms", 10_000)]
"""Keepalive pings a client may send: also while it has no call in flight, and as often as every 10 s. An agent pings its
long-lived channel every 20 s (``edge.link.KEEPALIVE``); gRPC's defaults (no pings without calls, 5 min) answered an idle
agent with GOAWAY ``too_many_pings`` after about a minute, so its next cloud call had to connect again."""


def in_flight_limit(max_queue: int, max_batch_size: int) -> int:
    """Calls gRPC lets into Python at once: the queue's capacity, a batch in compute and a batch being
    answered. Past it grpc.aio answers RESOURCE_EXHAUSTED (no hint) in its Cython layer without running a
    handler; the handler's admission (queue length, estimated wait) sheds, with a retry hint, only what
    this bound lets through. Once arrivals saturate the event loop's CPU, calls wait inside gRPC's core
    before the loop takes them: the core's own bound (``core_admission``) sheds those."""
    return max_queue + 2 * max_batch_size


@dataclass
class RunningServer:
    """A started server and its parts (tests and benchmarks drive these directly)."""

    server: grpc.aio.Server
    port: int
    service: CloudRankerService
    repository: ModelRepository
    health: health.aio.HealthServicer
    metrics: ServerMetrics
    watcher: asyncio.Task[None]

    async def stop(self, grace_s: float) -> None:
        """Mark NOT_SERVING, refuse new calls, let in-flight calls finish within ``grace_s``."""
        self.service.draining = True
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.watcher.cancel()
        await self.server.stop(grace_s)
        await self.service.rerank_batcher.close()
        await self.service.full_batcher.close()


def _credentials(settings: ServeSettings) -> grpc.ServerCredentials | None:
    if not settings.tls_cert_file:
        return None
    if not settings.tls_key_file:
        raise ValueError("tls_cert_file needs tls_key_file")
    pair = [(Path(settings.tls_key_file).read_bytes(), Path(settings.tls_cert_file).read_bytes())]
    if settings.tls_client_ca_file:
        return grpc.ssl_server_credentials(pair, root_certificates=Path(settings.tls_client_ca_file).read_bytes(), require_client_auth=True)
    return grpc.ssl_server_credentials(pair)


async def start_server(settings: ServeSettings) -> RunningServer:
    """Load the newest valid bundle, then listen. Raises if the repository has no valid bundle."""
    metrics = ServerMetrics()
    repository = ModelRepository(settings.repository, keep=settings.keep_versions,
                                 loader=functools.partial(ServingModels, max_batch_size=settings.max_batch_size))
    repository.on_change = lambda version: metrics.model_version.set(float(version))
    health_servicer = health.aio.HealthServicer()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    options = [("grpc.max_receive_message_length", settings.max_message_bytes),
               ("grpc.max_send_message_length", settings.max_message_bytes), ("grpc.so_reuseport", 1),  # workers share the port
               *core_admission_options(settings.max_batch_size), *KEEPALIVE_POLICY]
    malformed = MalformedRequestGuard(lambda method: metrics.count(method.rpartition("/")[2], "INVALID_ARGUMENT"))
    server = grpc.aio.server(options=options, maximum_concurrent_rpcs=in_flight_limit(settings.max_queue, settings.max_batch_size),
                             interceptors=[malformed])
    service = CloudRankerService(repository, metrics, max_batch_size=settings.max_batch_size, max_delay_s=settings.max_delay_ms / 1000,
                                 max_queue=settings.max_queue, max_request_bytes=settings.max_request_bytes,
                                 max_queue_wait_s=settings.max_queue_wait_ms / 1000, min_time_left_s=settings.min_time_left_ms / 1000)
    cloud_pb2_grpc.add_CloudRankerServicer_to_server(service, server)
    grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(OpenInferenceService(service), server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, OPEN_INFERENCE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{settings.host}:{settings.port}"
    credentials = _credentials(settings)
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    log.info("loading models from %s on %s", settings.repository, compute_device())
    await asyncio.to_thread(repository.refresh)
    repository.get()  # raises when nothing valid was found
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr=settings.host, registry=metrics.registry)
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    watcher = asyncio.get_running_loop().create_task(repository.watch(settings.poll_interval_s))
    log.info("serving %s on %s (model version %s, device %s)", SERVICE_NAME, f"{settings.host}:{port}", repository.current.version,
             compute_device())
    return RunningServer(server, port, service, repository, health_servicer, metrics, watcher)


async def serve(settings: ServeSettings) -> None:
    """Run until SIGTERM or SIGINT, then drain gracefully."""
    running = await start_server(settings)
    await until_stopped()
    log.info("draining (grace %.1f s)", settings.grace_s)
    await running.stop(settings.grace_s)
