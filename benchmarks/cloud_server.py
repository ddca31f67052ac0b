"""Server process for ``splitrank bench cloud``: the real CloudRanker service, with the real models
or a trivial one (to measure the serving overhead), plus a bare echo method on the same grpc.aio
server for the baseline, pinned to the cores it is given. Its Prometheus metrics (``--metrics-port``) answer once it
serves: that is how a benchmark knows it is up, and where it reads batch sizes. Benchmarks only."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path

import grpc

from cloud.serving.core_admission import core_admission_options
from cloud.serving.metrics import ServerMetrics
from cloud.serving.repository import ModelRepository
from cloud.serving.server import in_flight_limit
from cloud.serving.service import CloudRankerService
from cloud.serving.settings import DEFAULT_MAX_BATCH_SIZE
from cloud.serving.validation import RerankInput
from core.bundle import load_manifest
from protos.v1 import cloud_pb2_grpc

ECHO_METHOD = "/splitrank.bench.Echo/Echo"
TUNE_METHOD = "/splitrank.bench.Echo/Tune"
"""Takes JSON ``{"max_batch_size": int, "max_delay_ms": float}`` and applies it to the reranker's batcher live."""


class TrivialModels:
    """Same interface as ServingModels, no model: reranking returns the edge scores."""

    def __init__(self, bundle: Path) -> None:
        manifest = load_manifest(bundle)
        student = manifest.models["student"]
        self.version, self.catalogue_size = bundle.name, int(student["n_items"])
        self.candidates, self.embedding_dim = int(student["candidates"]), int(student["dim"])

    def rerank_calls(self, calls: Sequence[RerankInput]) -> list[list[float]]:
        return [call.edge_scores for call in calls]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--trivial", action="store_true")
    parser.add_argument("--max-batch-size", type=int, default=DEFAULT_MAX_BATCH_SIZE)
    parser.add_argument("--max-delay-ms", type=float, default=2.0)
    parser.add_argument("--max-queue", type=int, default=128)
    parser.add_argument("--max-queue-wait-ms", type=float, default=50.0)
    parser.add_argument("--no-core-admission", action="store_true", help="Leave gRPC's core at its default bound on pending calls "
                        "(throughput phases: 64 clients in flight must not be shed).")
    parser.add_argument("--port", type=int, default=0, help="0 = a free one; a taken port is shared (SO_REUSEPORT), as serve-cloud --workers does")
    parser.add_argument("--cpus", default="", help="Comma-separated cores to pin this process (and every thread it starts) to.")
    parser.add_argument("--metrics-port", type=int, default=0, help="Serve Prometheus metrics here (0 = none).")
    args = parser.parse_args()
    if args.cpus:
        os.sched_setaffinity(0, {int(core) for core in args.cpus.split(",")})
    repository = ModelRepository(args.repository, loader=TrivialModels) if args.trivial else ModelRepository(args.repository)
    repository.refresh()
    repository.get()  # fails here, with the reason on stderr, when no bundle could be loaded
    metrics = ServerMetrics()
    service = CloudRankerService(repository, metrics, max_batch_size=args.max_batch_size, max_delay_s=args.max_delay_ms / 1000,
                                 max_queue=args.max_queue, max_request_bytes=1 << 20, max_queue_wait_s=args.max_queue_wait_ms / 1000)
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1), *([] if args.no_core_admission else core_admission_options(args.max_batch_size))],
                             maximum_concurrent_rpcs=in_flight_limit(args.max_queue, args.max_batch_size))
    cloud_pb2_grpc.add_CloudRankerServicer_to_server(service, server)

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    async def tune(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        knobs = json.loads(request)
        service.rerank_batcher.set_max_batch_size(int(knobs["max_batch_size"]))
        service.rerank_batcher.set_max_delay(float(knobs["max_delay_ms"]) / 1000)
        return request

    handler = grpc.method_handlers_generic_handler("splitrank.bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo),
                                                                            "Tune": grpc.unary_unary_rpc_method_handler(tune)})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    await server.start()
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr="127.0.0.1", registry=metrics.registry)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
