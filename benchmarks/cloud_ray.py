"""``splitrank bench cloud --engine ray``: the reranker on Ray Serve (gRPC ingress) with 1 and 2 replicas,
against the standalone server, in one run and on one core budget: the server's cores (``--server-cores``)
hold either the standalone server or every Ray process (Ray inherits this process's pinning and gets
``num_cpus`` = those cores), and the load generator of ``bench cloud`` runs on the other cores. The mean
batch size comes from each server's own metric (Ray's ``ray_serve_actual_batch_size``).
"""

from __future__ import annotations

import contextlib
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.cloud import _cores, serve_load, server_process
from benchmarks.cloud_load import LoadResult, LoadSpec, percentile, run_load
from benchmarks.cores import CoreSplit, pin
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
                            max_batch_size: int = 64, max_delay_ms: float = 2.0, processes: int = 2, server_cores: int = 1,
                            progress: Any = print) -> dict[str, Any]:
    """Figures for ``--format json``: ``runs`` (one per replica count) and ``standalone_rps``."""
    from cloud.serving.settings import ServeSettings

    cores = _cores(server_cores)
    closed = LoadSpec(port=0, bundle=str(bundle), clients=clients, seconds=seconds, deadline_s=10.0)
    one = replace(closed, clients=1, seconds=seconds / 2)
    progress(f"server cores {sorted(cores.server)}, load generator on {sorted(cores.generator)}")
    progress(f"standalone server: one client, then {clients} concurrent clients, batching on")
    with server_process(bundle.parent, "--max-batch-size", str(max_batch_size), "--max-delay-ms", str(max_delay_ms),
                        "--max-queue-wait-ms", "100000", cores=cores.server) as server:
        standalone_one = run_load(replace(one, port=server.port), processes=1, cores=cores.generator)
        standalone = serve_load(server, replace(closed, port=server.port), cores, processes)
    settings = ServeSettings(repository=bundle.parent, port=free_port(), ray_http_port=free_port(), max_batch_size=max_batch_size,
                             max_delay_ms=max_delay_ms, max_queue=100_000, ray_num_cpus=len(cores.server),
                             ray_replica_cpus=len(cores.server) / (2 * max(replica_counts)))
    with contextlib.redirect_stdout(sys.stderr):  # Ray's driver prints cluster events: stdout carries only the figures
        runs, ray_one, ray_start_s = _ray_runs(settings, cores, replica_counts, closed, one, processes, progress)
    return {"server_cores": sorted(cores.server), "generator_cores": sorted(cores.generator), "clients": clients, "seconds": seconds,
            "max_batch_size": max_batch_size, "max_delay_ms": max_delay_ms, "ray_start_s": ray_start_s, "runs": runs,
            "standalone_rps": standalone.load.ok_rps, "standalone_p50_ms": percentile(standalone.load.ok_ms, 50),
            "standalone_p99_ms": percentile(standalone.load.ok_ms, 99), "standalone_mean_batch_size": standalone.mean_batch_size,
            # what Serve's proxy and the hop to the replica add to one call: p50 of one client calling one after another
            "one_client_p50_ms": {"ray": percentile(ray_one.ok_ms, 50), "standalone": percentile(standalone_one.ok_ms, 50)},
            "ray_proxy_ms_per_call": percentile(ray_one.ok_ms, 50) - percentile(standalone_one.ok_ms, 50)}


def _ray_runs(settings: Any, cores: CoreSplit, replica_counts: tuple[int, ...], closed: LoadSpec, one: LoadSpec, processes: int,
              progress: Any) -> tuple[list[dict[str, float]], LoadResult, float]:
    """The closed loop against Serve for each replica count, one client first; the seconds Ray and Serve took to start."""
    import ray
    from ray import serve

    from cloud.serving.ray_app import deploy, start_ray_serve

    metrics_port = free_port()
    started = time.monotonic()
    pin(cores.server)  # every Ray process inherits the server's cores
    try:
        ray.init(num_cpus=settings.ray_num_cpus, include_dashboard=False, log_to_driver=False, _metrics_export_port=metrics_port,
                 _system_config={"metrics_report_interval_ms": 1000})
    finally:
        pin(cores.generator)
    try:
        runs: list[dict[str, float]] = []
        start_ray_serve(settings.model_copy(update={"ray_replicas": replica_counts[0]}))
        ray_start_s = time.monotonic() - started
        progress(f"Ray Serve, {replica_counts[0]} replica(s): one client, calls one after another")
        one_client = run_load(replace(one, port=settings.port), processes=1, cores=cores.generator)
        for replicas in replica_counts:
            if runs:
                deploy(settings.model_copy(update={"ray_replicas": replicas}))
            progress(f"Ray Serve, {replicas} replica(s): {closed.clients} concurrent clients")
            before = _settled_batch_totals(metrics_port)
            load = run_load(replace(closed, port=settings.port), processes=processes, cores=cores.generator)
            after = _settled_batch_totals(metrics_port)
            batches = after[1] - before[1]
            runs.append({"replicas": replicas, "rps": load.ok_rps, "p50_ms": percentile(load.ok_ms, 50), "p99_ms": percentile(load.ok_ms, 99),
                         "mean_batch_size": (after[0] - before[0]) / batches if batches else float("nan"), "failed": load.sent - load.codes.get("OK", 0)})
    finally:
        serve.shutdown()
        ray.shutdown()
    return runs, one_client, ray_start_s
