"""``splitrank serve-cloud --engine ray``: the same ``splitrank.v1.CloudRanker`` contract on Ray Serve's gRPC
ingress, for platforms that already run Ray (on Kubernetes through KubeRay: ``deploy/rayservice.yaml``).
Agents need no change: the proxy serves the service by its own name.

Reused from the standalone server, not copied: request validation (``validation.py``), the model repository
and the batch functions and answers (``service.py``). Ray does the rest: batching is ``@serve.batch`` with the
batch size and delay of ``ServeSettings``, ``max_ongoing_requests`` is set from the batch size (Serve's
default of 5 would cap every batch at 5), replicas and autoscaling are deployment options with fractional
CPUs, health is Serve's (``check_health`` and the proxy's Healthz), metrics are Ray's
(``ray_serve_actual_batch_size`` and the request counters). A new model version rolls out as a deployment
update: ``user_config={"model_version": V}`` reconfigures the running replicas in place, loading V beside the
version that keeps serving and then making it the default, so no call fails.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
from ray import serve
from ray.serve.grpc_util import RayServegRPCContext

from cloud.serving.repository import ModelRepository, UnknownVersion
from cloud.serving.service import _by_model, _full_batch, _rerank_batch, answer_full, answer_rerank
from cloud.serving.settings import ServeSettings
from cloud.serving.validation import FullInput, InvalidRequest, RerankInput, validate_full, validate_rerank
from protos.v1 import cloud_pb2

log = logging.getLogger("splitrank.cloud")
O = TypeVar("O")
APP_NAME = "splitrank"
DEPLOYMENT_NAME = "CloudRanker"
SERVICER_FUNCTION = "protos.v1.cloud_pb2_grpc.add_CloudRankerServicer_to_server"
"""What Serve's gRPC proxy registers: the generated servicer adder of the CloudRanker contract."""


@serve.deployment(name=DEPLOYMENT_NAME)
class CloudRankerDeployment:
    """One replica: the model repository, and a ``@serve.batch`` queue per route."""

    def __init__(self, repository: str, *, max_request_bytes: int, keep_versions: int) -> None:
        self.repository = ModelRepository(Path(repository), keep=keep_versions)
        self.max_request_bytes = max_request_bytes
        self.default_version = ""
        self._loading: asyncio.Task[None] | None = None

    async def reconfigure(self, config: dict[str, Any]) -> None:
        """Deployment update without a restart: ``model_version`` ("" = the newest in the repository),
        ``max_batch_size`` and ``batch_wait_timeout_s``. A replica's first model loads before it takes calls;
        a new version loads in the background while the serving one answers, then becomes the default."""
        for batched in (self._rerank, self._rank_full):
            batched.set_max_batch_size(int(config["max_batch_size"]))
            batched.set_batch_wait_timeout_s(float(config["batch_wait_timeout_s"]))
        version = str(config.get("model_version", ""))
        if not self.repository.loaded_versions:
            await self._switch(version)
        elif version != self.default_version:
            self._loading = asyncio.create_task(self._switch(version))

    async def _switch(self, version: str) -> None:
        if version:
            await asyncio.to_thread(self.repository.load, version)
        else:
            await asyncio.to_thread(self.repository.refresh)
        self.default_version = version
        log.info("default model version now %s", self.repository.get(version).version)

    def check_health(self) -> None:
        """Serve restarts a replica whose model is gone."""
        self.repository.get(self.default_version)

    async def Rerank(self, request: cloud_pb2.RerankRequest, grpc_context: RayServegRPCContext) -> cloud_pb2.CloudRankResponse:
        """Split route."""
        return await self._serve(request, grpc_context, validate_rerank, self._rerank, answer_rerank)

    async def RankFull(self, request: cloud_pb2.FullRankRequest, grpc_context: RayServegRPCContext) -> cloud_pb2.CloudRankResponse:
        """Cloud route."""
        return await self._serve(request, grpc_context, validate_full, self._rank_full, answer_full)

    async def _serve(self, request: Any, grpc_context: RayServegRPCContext, validate: Callable[..., Any],
                     batched: Callable[[Any], Awaitable[tuple[Any, float]]],
                     answer: Callable[[Any, Any], tuple[list[int], list[float]]]) -> cloud_pb2.CloudRankResponse:
        try:
            models = self.repository.get(request.model_version or self.default_version)
            item = validate(request, models, max_bytes=self.max_request_bytes)
        except UnknownVersion as err:
            return _refuse(grpc_context, grpc.StatusCode.NOT_FOUND if request.model_version else grpc.StatusCode.UNAVAILABLE, str(err.args[0]))
        except InvalidRequest as err:
            return _refuse(grpc_context, grpc.StatusCode.INVALID_ARGUMENT, str(err))
        queued = time.monotonic()
        scores, compute_s = await batched(item)
        ids, values = answer(item, scores)
        return cloud_pb2.CloudRankResponse(item_ids=ids, scores=values, model_version=models.version,
                                           queue_ms=max(time.monotonic() - queued - compute_s, 0.0) * 1000, compute_ms=compute_s * 1000)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)
    async def _rerank(self, items: list[RerankInput]) -> list[tuple[list[float], float]]:
        return await asyncio.to_thread(_timed, items, _rerank_batch)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)
    async def _rank_full(self, items: list[FullInput]) -> list[tuple[np.ndarray, float]]:
        return await asyncio.to_thread(_timed, items, _full_batch)


def _timed(items: list[Any], run: Callable[[list[Any]], list[O]]) -> list[tuple[O, float]]:
    """Each item's output with the seconds its batch's model call took."""
    started = time.perf_counter()
    outputs = _by_model(items, run)
    seconds = time.perf_counter() - started
    return [(output, seconds) for output in outputs]


def _refuse(grpc_context: RayServegRPCContext, code: grpc.StatusCode, message: str) -> cloud_pb2.CloudRankResponse:
    grpc_context.set_code(code)
    grpc_context.set_details(message)
    return cloud_pb2.CloudRankResponse()


def user_config(settings: ServeSettings, model_version: str = "") -> dict[str, Any]:
    """What a deployment update may change on running replicas."""
    return {"model_version": model_version, "max_batch_size": settings.max_batch_size, "batch_wait_timeout_s": settings.max_delay_ms / 1000}


def deployment_options(settings: ServeSettings) -> dict[str, Any]:
    """Replicas (or autoscaling), fractional CPUs per replica, and concurrency from the batch size."""
    scaling: dict[str, Any] = ({"autoscaling_config": {"min_replicas": settings.ray_replicas, "max_replicas": settings.ray_max_replicas,
                                                       "target_ongoing_requests": settings.max_batch_size}}
                               if settings.ray_max_replicas > settings.ray_replicas else {"num_replicas": settings.ray_replicas})
    return {**scaling, "ray_actor_options": {"num_cpus": settings.ray_replica_cpus},
            "max_ongoing_requests": 2 * settings.max_batch_size,  # a full batch can form while the last one computes
            "max_queued_requests": settings.max_queue, "health_check_period_s": 10.0}


def build_app(settings: ServeSettings) -> serve.Application:
    """The Serve application for these settings (deploy it with ``deploy``, as KubeRay does, not ``serve.run``)."""
    return CloudRankerDeployment.options(**deployment_options(settings), user_config=user_config(settings)).bind(
        str(Path(settings.repository).resolve()), max_request_bytes=settings.max_request_bytes, keep_versions=settings.keep_versions)


def serve_config(settings: ServeSettings, model_version: str = "") -> dict[str, Any]:
    """The declarative Serve config of the app (what KubeRay's ``serveConfigV2`` holds). Deployed declaratively, a
    change of ``user_config`` alone reconfigures running replicas in place; ``serve.run`` would restart them."""
    return {"grpc_options": {"port": settings.port, "grpc_servicer_functions": [SERVICER_FUNCTION]},
            "http_options": {"host": settings.host, "port": settings.ray_http_port},
            "applications": [{"name": APP_NAME, "route_prefix": "/", "import_path": f"{__name__}:app_builder",
                              "args": settings.model_dump(mode="json", exclude_defaults=True),
                              "deployments": [{"name": DEPLOYMENT_NAME, "user_config": user_config(settings, model_version)}]}]}


def deploy(settings: ServeSettings, model_version: str = "", timeout_s: float = 600.0) -> None:
    """Deploy (or update) the app on the running Serve and wait until it runs; a new ``model_version`` is the
    in-place version update (replicas switch once they have loaded it)."""
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema

    client = _get_global_client()
    if client is None:
        raise RuntimeError("Ray Serve is not running: start_ray_serve first")
    client.deploy_apps(ServeDeploySchema.parse_obj(serve_config(settings, model_version)))
    deadline = time.monotonic() + timeout_s
    time.sleep(0.5)
    while (status := serve.status().applications.get(APP_NAME)) is None or status.status != "RUNNING":
        if status is not None and status.status in ("DEPLOY_FAILED", "UNHEALTHY"):
            raise RuntimeError(f"Ray Serve could not deploy {APP_NAME}: {status.message}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{APP_NAME} not running on Ray Serve after {timeout_s:.0f} s")
        time.sleep(0.5)


def start_ray_serve(settings: ServeSettings) -> None:
    """Connect to (or start) Ray and Serve with the gRPC proxy on ``settings.port``; then deploy the app."""
    import ray
    from ray.serve.config import HTTPOptions, gRPCOptions

    if not ray.is_initialized():
        ray.init(address=settings.ray_address, num_cpus=None if settings.ray_address else settings.ray_num_cpus, include_dashboard=False,
                 log_to_driver=False)
    serve.start(http_options=HTTPOptions(host=settings.host, port=settings.ray_http_port),
                grpc_options=gRPCOptions(port=settings.port, grpc_servicer_functions=[SERVICER_FUNCTION]))
    deploy(settings)


def app_builder(args: dict[str, Any]) -> serve.Application:
    """Entry point of Serve config files and KubeRay's ``serveConfigV2`` (``import_path:
    cloud.serving.ray_app:app_builder``): ``args`` are ServeSettings fields, e.g. ``repository``."""
    return build_app(ServeSettings(**args))


def serve_until_stopped(settings: ServeSettings) -> int:
    """``serve-cloud --engine ray``: deploy, serve until SIGTERM / SIGINT, then shut Serve down (a local Ray with it)."""
    import signal
    import threading

    import ray

    start_ray_serve(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # after ray.init, which installs handlers of its own
        signal.signal(signum, lambda *args: stop.set())
    log.info("Ray Serve: splitrank.v1.CloudRanker on gRPC %s:%d, %d replica(s)", settings.host, settings.port, settings.ray_replicas)
    stop.wait()
    serve.shutdown()
    ray.shutdown()
    return 0
