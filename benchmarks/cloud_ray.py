"""``splitrank bench cloud --engine ray``: the reranker on Ray Serve (gRPC ingress) with 1 and 2 replicas,
against the standalone server, in one run and on one core budget: a local Ray with ``num_cpus`` = this
machine's cores, the standalone server on the same machine. The same closed loop of ``clients`` callers
drives both; the mean batch size comes from Ray's own metric (``ray_serve_actual_batch_size``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.cloud import _closed_loop, _requests, server_process
from splitrank.ports import free_port

BATCH_METRIC = "ray_serve_actual_batch_size"


def _batch_totals(metrics_port: int) -> tuple[float, float]:
    """(items, batches) of the split route's ``@serve.batch`` so far, over every replica."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    items = batches = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("function_name") != "_rerank":
                continue
            if sample.name == f"{BATCH_METRIC}_sum":
                items += sample.value
            elif sample.name == f"{BATCH_METRIC}_count":
                batches += sample.value
    return items, batches


def _settled_batch_totals(metrics_port: int, wait_s: float = 15.0) -> tuple[float, float]:
    """Ray exports metrics every second here: wait until two readings agree."""
    last, deadline = _batch_totals(metrics_port), time.monotonic() + wait_s
    while time.monotonic() < deadline:
        time.sleep(1.5)
        now = _batch_totals(metrics_port)
        if now == last:
            return now
        last = now
    return last


def run_ray_cloud_benchmark(bundle: Path, *, replica_counts: tuple[int, ...] = (1, 2), clients: int = 64, seconds: float = 8.0,
                            max_batch_size: int = 64, max_delay_ms: float = 2.0, progress: Any = print) -> dict[str, Any]:
    """Figures for ``--format json``: ``runs`` (one per replica count) and ``standalone_rps``."""
    from cloud.serving.settings import ServeSettings

    repository = bundle.parent
    requests = _requests(bundle, 512)
    cores = len(os.sched_getaffinity(0))
    progress(f"standalone server: one client, then {clients} concurrent clients, batching on")
    with server_process(repository, "--max-batch-size", str(max_batch_size), "--max-delay-ms", str(max_delay_ms),
                        "--max-queue-wait-ms", "100000") as port:
        standalone_one_client = asyncio.run(_closed_loop(port, requests, 1, seconds / 2))
        standalone = asyncio.run(_closed_loop(port, requests, clients, seconds))
    settings = ServeSettings(repository=repository, port=free_port(), ray_http_port=free_port(), max_batch_size=max_batch_size,
                             max_delay_ms=max_delay_ms, max_queue=100_000, ray_replica_cpus=min(0.5, cores / 4))
    progress(f"starting a local Ray ({cores} CPUs) and Serve")
    with contextlib.redirect_stdout(sys.stderr):  # Ray's driver prints cluster events: stdout carries only the figures
        runs, ray_one_client, ray_start_s = _ray_runs(settings, cores, replica_counts, requests, clients, seconds, progress)
    return {"cores": cores, "clients": clients, "seconds": seconds, "max_batch_size": max_batch_size, "max_delay_ms": max_delay_ms,
            "ray_start_s": ray_start_s, "runs": runs, "standalone_rps": standalone["rps"], "standalone_p50_ms": standalone["p50_ms"],
            "standalone_p99_ms": standalone["p99_ms"],
            # what Serve's proxy and the hop to the replica add to one call: p50 of one client calling one after another
            "one_client_p50_ms": {"ray": ray_one_client["p50_ms"], "standalone": standalone_one_client["p50_ms"]},
            "ray_proxy_ms_per_call": ray_one_client["p50_ms"] - standalone_one_client["p50_ms"]}


def _ray_runs(settings: Any, cores: int, replica_counts: tuple[int, ...], requests: list[Any], clients: int, seconds: float,
              progress: Any) -> tuple[list[dict[str, float]], dict[str, float], float]:
    """The closed loop against Serve for each replica count, one client first; the seconds Ray and Serve took to start."""
    import ray
    from ray import serve

    from cloud.serving.ray_app import deploy, start_ray_serve

    metrics_port = free_port()
    started = time.monotonic()
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, _metrics_export_port=metrics_port,
             _system_config={"metrics_report_interval_ms": 1000})
    try:
        runs: list[dict[str, float]] = []
        start_ray_serve(settings.model_copy(update={"ray_replicas": replica_counts[0]}))
        ray_start_s = time.monotonic() - started
        progress(f"Ray Serve, {replica_counts[0]} replica(s): one client, calls one after another")
        one_client = asyncio.run(_closed_loop(settings.port, requests, 1, seconds / 2))
        for replicas in replica_counts:
            if runs:
                deploy(settings.model_copy(update={"ray_replicas": replicas}))
            progress(f"Ray Serve, {replicas} replica(s): {clients} concurrent clients")
            before = _settled_batch_totals(metrics_port)
            figures = asyncio.run(_closed_loop(settings.port, requests, clients, seconds))
            after = _settled_batch_totals(metrics_port)
            batches = after[1] - before[1]
            runs.append({"replicas": replicas, "rps": figures["rps"], "p50_ms": figures["p50_ms"], "p99_ms": figures["p99_ms"],
                         "mean_batch_size": (after[0] - before[0]) / batches if batches else float("nan")})
    finally:
        serve.shutdown()
        ray.shutdown()
    return runs, one_client, ray_start_s
