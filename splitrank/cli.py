"""The ``splitrank`` command line. Each subcommand imports its heavy parts only when it runs,
so ``splitrank --help`` is instant and a device without TensorFlow can still use the edge commands."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from core.bundle import BundleError, load_manifest, resolve_bundle
from core.settings import SettingsError, load_settings
from splitrank import __version__
from splitrank._output import emit
from splitrank.cli_fleet import broker, fleet

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter hides the output users want

DEFAULT_REPOSITORY = Path("models")
FORMAT_CHOICE = click.Choice(["table", "json"])


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="splitrank")
def main() -> None:
    """splitrank: a TFLite ranker on the device, a GPU reranker in the cloud, a router between them.

    Start with `splitrank train` (makes a model bundle from real data), then `splitrank report models`.
    """


@main.command()
@click.option("--data", type=click.Path(path_type=Path), help="Online Retail file or folder, or your CSV with --user-col etc. [env SPLITRANK_DATA]")
@click.option("--user-col", help="Your CSV: the customer column (makes --data a generic interactions CSV).")
@click.option("--item-col", help="Your CSV: the item column.")
@click.option("--time-col", help="Your CSV: the timestamp column.")
@click.option("--basket-col", help="Your CSV: the order/basket column (default: one basket per user and timestamp).")
@click.option("--quantity-col", help="Your CSV: optional quantity column (rows with quantity <= 0 are dropped).")
@click.option("--price-col", help="Your CSV: optional unit price column (rows with price <= 0 are dropped).")
@click.option("--rating-col", help="Your CSV: optional explicit rating column (numeric).")
@click.option("--min-rating", type=float, help="Your CSV: keep only rows rated at least this (needs --rating-col).")
@click.option("--time-format", type=click.Choice(["auto", "iso", "unix_s", "unix_ms"]), default="auto", show_default=True,
              help="Your CSV: how --time-col is written; auto detects ISO dates, unix seconds or milliseconds from the values.")
@click.option("--repository", type=click.Path(path_type=Path), help=f"Model repository to add the bundle to [default: {DEFAULT_REPOSITORY}]")
@click.option("--config", type=click.Path(path_type=Path), help="TOML file with a [train] table of these settings.")
@click.option("--max-examples", type=int, help="Use at most this many examples per split (quick runs).")
@click.option("--teacher-epochs", type=int, help="Teacher epochs (early stopping on validation NDCG@10).")
@click.option("--student-epochs", type=int, help="Student epochs.")
@click.option("--reranker-epochs", type=int, help="Split reranker epochs.")
@click.option("--seed", type=int, help="Random seed (fixed by default, so runs repeat).")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True, help="Summary as a table or JSON.")
def train(data: Path | None, user_col: str | None, item_col: str | None, time_col: str | None, basket_col: str | None,
          quantity_col: str | None, price_col: str | None, rating_col: str | None, min_rating: float | None, time_format: str,
          repository: Path | None, config: Path | None, max_examples: int | None,
          teacher_epochs: int | None, student_epochs: int | None, reranker_epochs: int | None, seed: int | None, fmt: str) -> None:
    """Train the teacher, student and split reranker on real data and write a versioned model bundle.

    The bundle is written to a temporary directory and renamed into place only when complete.
    """
    from cloud.data import ColumnMap, DataError
    from cloud.training.pipeline import TrainSettings, run_training

    columns = None
    if any((user_col, item_col, time_col)):
        if not all((user_col, item_col, time_col)):
            _fail("a CSV of your own needs all of --user-col, --item-col and --time-col")
        try:
            columns = ColumnMap(user_col, item_col, time_col, basket_col, quantity_col, price_col,  # type: ignore[arg-type]
                                rating_col, min_rating, time_format)
        except DataError as err:
            _fail(str(err))
    try:
        settings = load_settings(TrainSettings, section="train", config=config, flags={
            "data": str(data) if data else None, "repository": repository, "max_examples": max_examples,
            "teacher_epochs": teacher_epochs, "student_epochs": student_epochs, "reranker_epochs": reranker_epochs, "seed": seed,
            "csv_columns": columns})
    except SettingsError as err:
        _fail(str(err))
    if columns is not None:
        from dataclasses import replace

        settings = replace(settings, csv_columns=columns)
    from splitrank._progress import StageProgress

    try:
        with StageProgress(enabled=fmt == "table") as progress:
            bundle = run_training(settings, progress.update)
    except (DataError, ValueError, OSError) as err:
        _fail(str(err))
    rows = load_manifest(bundle).metrics
    if fmt == "json":
        click.echo(json.dumps({"bundle": str(bundle), "models": rows}, indent=2))
    else:
        click.echo(f"bundle written: {bundle}")
        _print_models(rows)


@main.command("serve-cloud")
@click.option("--repository", type=click.Path(path_type=Path), help=f"Model repository [default: {DEFAULT_REPOSITORY}]")
@click.option("--host", help="Address to listen on [default: 127.0.0.1].")
@click.option("--port", type=int, help="gRPC port [default: 50051; 0 picks a free one].")
@click.option("--max-batch-size", type=int, help="Largest batch per model call [default: 64].")
@click.option("--max-delay-ms", type=float, help="How long a partial batch may wait for more requests [default: 2].")
@click.option("--max-queue", type=int, help="Queued requests before RESOURCE_EXHAUSTED [default: 512].")
@click.option("--metrics-port", type=int, help="Prometheus metrics over HTTP on this port [default: off]; worker i uses port + i.")
@click.option("--workers", type=int, default=1, show_default=True, help="Server processes sharing the port (SO_REUSEPORT), one event loop each.")
@click.option("--config", type=click.Path(path_type=Path), help="TOML file with a [serve] table (TLS files, limits, ...).")
@click.option("--log-level", default="INFO", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def serve_cloud(repository: Path | None, host: str | None, port: int | None, max_batch_size: int | None, max_delay_ms: float | None,
                max_queue: int | None, metrics_port: int | None, workers: int, config: Path | None, log_level: str) -> None:
    """Serve the split reranker and the teacher over gRPC (health, reflection, batching, hot reload)."""
    import asyncio
    import logging

    from cloud.serving.server import ServeSettings, serve

    logging.basicConfig(level=log_level, format='{"time": "%(asctime)s", "level": "%(levelname)s", "logger": "%(name)s", "message": "%(message)s"}')
    try:
        settings = load_settings(ServeSettings, section="serve", config=config, flags={
            "repository": repository, "host": host, "port": port, "max_batch_size": max_batch_size, "max_delay_ms": max_delay_ms,
            "max_queue": max_queue, "metrics_port": metrics_port})
        if workers > 1:
            from cloud.serving.workers import serve_workers

            sys.exit(serve_workers(settings, workers, log_level))
        asyncio.run(serve(settings))
    except (SettingsError, BundleError, ValueError, OSError) as err:
        _fail(str(err))


@main.command("run-agent")
@click.option("--repository", type=click.Path(path_type=Path), help=f"Bundle directory or model repository [default: {DEFAULT_REPOSITORY}]")
@click.option("--port", type=int, help="TCP port on --host [default: 50061; 0 picks a free one].")
@click.option("--host", help="Address to listen on [default: 127.0.0.1: apps on this device only].")
@click.option("--unix-socket", help="Also listen on this Unix socket path.")
@click.option("--cloud", help="Cloud endpoints: name=host:port[@usd_per_call][;...] [default: none, local only].")
@click.option("--policy", type=click.Choice(["local", "split", "cloud", "threshold", "learned"]), help="Router policy [default: learned].")
@click.option("--target-cloud-fraction", type=float, help="Share of requests threshold/learned send to the cloud [default: 0.3].")
@click.option("--budget-usd-per-hour", type=float, help="Cap cloud calls at what this pays for [default: 0 = no cap].")
@click.option("--histories", help="JSON file of customer histories for requests by user_id.")
@click.option("--encoding", type=click.Choice(["int8", "int4", "float32"]), help="User embedding on the split route [default: int8].")
@click.option("--split-candidates", type=int, help="Candidates a split call carries, best first [default: 0 = all 64]; fewer = fewer bytes, lower NDCG.")
@click.option("--dp-epsilon", type=float, help="Gaussian noise on the user embedding for (epsilon, 1e-5)-DP [default: 0 = off].")
@click.option("--device-id", help="This device's id (sent pseudonymized; its MQTT user name in a fleet).")
@click.option("--mqtt", help="Fleet broker host:port: report state and telemetry, take config and signed model releases.")
@click.option("--state-dir", help="Where a fleet-managed agent keeps models and its telemetry outbox [default: agent-state].")
@click.option("--release-public-key", help="release.pub: the key model releases must be signed with.")
@click.option("--config", type=click.Path(path_type=Path), help="TOML file with an [agent] table of these settings.")
@click.option("--log-level", default="INFO", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def run_agent(repository: Path | None, port: int | None, host: str | None, unix_socket: str | None, cloud: str | None, policy: str | None,
              target_cloud_fraction: float | None, budget_usd_per_hour: float | None, histories: str | None, encoding: str | None,
              split_candidates: int | None,
              dp_epsilon: float | None, device_id: str | None, mqtt: str | None, state_dir: str | None, release_public_key: str | None,
              config: Path | None, log_level: str) -> None:
    """Run the on-device agent: TFLite edge ranking for local apps, with a router to the cloud reranker."""
    import asyncio
    import logging

    from edge.server import AgentSettings
    from splitrank.device_agent import serve_device_agent

    logging.basicConfig(level=log_level, format='{"time": "%(asctime)s", "level": "%(levelname)s", "logger": "%(name)s", "message": "%(message)s"}')
    try:
        settings = load_settings(AgentSettings, section="agent", config=config, flags={
            "repository": repository, "port": port, "host": host, "unix_socket": unix_socket, "cloud": cloud, "policy": policy,
            "target_cloud_fraction": target_cloud_fraction, "budget_usd_per_hour": budget_usd_per_hour, "histories": histories,
            "encoding": encoding, "split_candidates": split_candidates, "dp_epsilon": dp_epsilon, "device_id": device_id, "mqtt": mqtt, "state_dir": state_dir,
            "release_public_key": release_public_key})
        asyncio.run(serve_device_agent(settings))
    except (SettingsError, BundleError, ValueError, OSError, RuntimeError) as err:
        _fail(str(err))


@main.command()
@click.option("--repository", type=click.Path(path_type=Path), default=DEFAULT_REPOSITORY, show_default=True,
              help="Model repository; a bundle is trained into it when it has none.")
@click.option("--data", help="Online Retail file or folder [env SPLITRANK_DATA; default: ../shared/data when present].")
@click.option("--requests", type=int, default=2000, show_default=True, help="Test-period requests replayed per policy.")
@click.option("--rate", type=float, default=50.0, show_default=True, help="Requests per second.")
@click.option("--deadline-ms", type=float, default=300.0, show_default=True, help="The app's deadline per request.")
@click.option("--profiles", default="wifi,4g,3g,lossy", show_default=True, help="One agent per network profile (wifi, 4g, 3g, lossy, lan).")
@click.option("--routed-fraction", type=float, default=0.6, show_default=True, help="Cloud-call fraction the routed policy holds.")
@click.option("--routed-cloud-timeout-ms", type=float, default=100.0, show_default=True,
              help="The routed policy answers from the edge when the cloud takes longer.")
@click.option("--policies", default="local,split,cloud,routed", show_default=True)
@click.option("--report-dir", type=click.Path(path_type=Path), default=Path("demo-report"), show_default=True)
@click.option("--prices", type=click.Path(path_type=Path), help="Your copy of core/prices.toml.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def demo(repository: Path, data: str | None, requests: int, rate: float, deadline_ms: float, profiles: str, routed_fraction: float,
         routed_cloud_timeout_ms: float, policies: str, report_dir: Path, prices: Path | None, fmt: str) -> None:
    """The whole system on this machine: cloud server, broker, fleet manager and one agent per network
    profile as separate processes; replays the held-out test period through the SDK for each policy and
    reports quality, latency, cloud use, bytes, privacy, energy and dollars (JSON, text and PNG plots)."""
    from cloud.data.errors import DataError
    from splitrank._progress import StageProgress
    from splitrank.demo.run import DemoSettings, run_demo
    from splitrank.netem import PROFILES

    names = tuple(p.strip() for p in profiles.split(",") if p.strip())
    if not names or any(name not in PROFILES for name in names):
        _fail(f"--profiles must name some of {sorted(PROFILES)}")
    settings = DemoSettings(repository=repository, data=data, profiles=names, requests=requests, rate_per_s=rate, deadline_ms=deadline_ms,
                            routed_fraction=routed_fraction, routed_cloud_timeout_ms=routed_cloud_timeout_ms, report_dir=report_dir, prices=prices,
                            policies=tuple(p.strip() for p in policies.split(",") if p.strip()))
    say = (lambda message: click.echo(message, err=True)) if fmt == "table" else (lambda message: None)
    try:
        with StageProgress(enabled=fmt == "table") as bars:
            result = run_demo(settings, say, lambda name, done, total: bars.update(name, done, total, {}))
    except (BundleError, DataError, ValueError, RuntimeError, TimeoutError) as err:
        _fail(str(err))
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
        return
    from splitrank.demo.report import table

    click.echo("\n".join(table(result["policies"])))
    for key, value in result.get("routed_vs_cloud", {}).items():
        click.echo(f"{key:>28}: {value:.3f}")
    click.echo(f"report, plots: {report_dir}/")


@main.group()
def report() -> None:
    """Reports on trained models (more reports arrive with the cloud, router and demo)."""


@report.command("models")
@click.option("--repository", type=click.Path(path_type=Path), default=DEFAULT_REPOSITORY, show_default=True,
              help="Model repository (newest valid bundle) or one bundle directory.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def report_models(repository: Path, fmt: str) -> None:
    """Quality, size and latency of every model and export format, on the test split."""
    try:
        bundle = resolve_bundle(repository)
        manifest = load_manifest(bundle)
    except BundleError as err:
        _fail(str(err))
    keys = ("name", "format", "size_bytes", "ndcg_at_10", "recall_at_20", "hit_rate_at_10", "latency_p50_us")
    rows = [{k: row.get(k) for k in keys} | {k: v for k, v in row.items() if k not in keys} for row in manifest.metrics]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(f"bundle {bundle} (version {manifest.version}, data {manifest.data.get('fingerprint', '')[:12]})")
        _print_models(rows)


def _print_models(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="models on the test split")
    for column in ("model", "format", "size", "NDCG@10", "Recall@20", "HR@10", "p50 latency"):
        table.add_column(column, justify="left" if column in ("model", "format") else "right", no_wrap=True)
    for row in rows:
        size = f"{row['size_bytes'] / 1024:.0f} KiB" if row.get("size_bytes") else "-"
        latency = f"{row['latency_p50_us']:.0f} us" if row.get("latency_p50_us") else "-"
        table.add_row(row["name"], row["format"], size, f"{row['ndcg_at_10']:.4f}", f"{row['recall_at_20']:.4f}",
                      f"{row['hit_rate_at_10']:.4f}", latency)
    Console(width=None if sys.stdout.isatty() else 140).print(table)


@main.group()
def bench() -> None:
    """Benchmarks that print figures and ratios measured side by side in one run."""


@bench.command("edge-step")
@click.option("--repository", type=click.Path(path_type=Path), default=DEFAULT_REPOSITORY, show_default=True)
@click.option("--requests", type=int, default=2000, show_default=True, help="Timed requests per engine.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def bench_edge_step(repository: Path, requests: int, fmt: str) -> None:
    """The edge step through the TFLite interpreter (one thread) against the same Keras model called eagerly."""
    from benchmarks.edge_step import run_edge_step_benchmark

    try:
        result = run_edge_step_benchmark(resolve_bundle(repository), requests=requests)
    except BundleError as err:
        _fail(str(err))
    emit(result, fmt)


@bench.command("train")
@click.option("--sizes", default="500000,1000000,2000000", show_default=True, help="Interactions per synthetic log, comma-separated.")
@click.option("--items", type=int, default=100_000, show_default=True, help="Catalogue size of the synthetic logs.")
@click.option("--repeats", type=click.Choice(["both", "with", "without"]), default="both", show_default=True,
              help="Logs with repeat purchases, without, or one of each per size.")
@click.option("--edge-items", default="10000,100000,500000", show_default=True, help="Catalogue sizes for the edge step, comma-separated.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def bench_train(sizes: str, items: int, repeats: str, edge_items: str, fmt: str) -> None:
    """`splitrank train` on synthetic logs of growing size (seconds, peak memory) and the edge step per catalogue size."""
    from benchmarks.train import run_train_benchmark

    def say(line: str) -> None:
        click.echo(line, err=True)

    try:
        size_list = [int(x) for x in sizes.split(",")]
        edge_list = [int(x) for x in edge_items.split(",")]
    except ValueError:
        _fail(f"--sizes and --edge-items take comma-separated integers, got {sizes!r} and {edge_items!r}")
    flags = {"both": (True, False), "with": (True,), "without": (False,)}[repeats]
    emit(run_train_benchmark(sizes=size_list, items=items, repeats=flags, edge_items=edge_list, progress=say), fmt)


@bench.command("cloud")
@click.option("--repository", type=click.Path(path_type=Path), default=DEFAULT_REPOSITORY, show_default=True)
@click.option("--seconds", type=float, default=8.0, show_default=True, help="Length of each throughput and load phase.")
@click.option("--clients", type=int, default=64, show_default=True, help="Concurrent clients for the batching phase and the sweep.")
@click.option("--max-delay-ms", type=float, default=2.0, show_default=True, help="The server's max queue delay in the batched phases.")
@click.option("--sweep", is_flag=True, help="Instead: try max batch sizes x max queue delays and print the best for --p99-ms.")
@click.option("--p99-ms", type=float, default=50.0, show_default=True, help="Latency target the sweep's best setting must meet.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def bench_cloud(repository: Path, seconds: float, clients: int, max_delay_ms: float, sweep: bool, p99_ms: float, fmt: str) -> None:
    """Serving overhead vs a bare echo, batching gain, and overload behaviour of the cloud server;
    with --sweep, the batching knobs that give the most throughput within a p99 target."""
    from benchmarks.cloud import run_cloud_benchmark, run_cloud_sweep

    try:
        bundle = resolve_bundle(repository)
    except BundleError as err:
        _fail(str(err))
    say = (lambda message: click.echo(message, err=True)) if fmt == "table" else (lambda message: None)
    if sweep:
        found = run_cloud_sweep(bundle, p99_target_ms=p99_ms, clients=clients, seconds=min(seconds, 3.0), progress=say)
        if fmt == "json":
            click.echo(json.dumps(found, indent=2))
        elif found["best"]:
            best = found["best"]
            click.echo(f"best for p99 <= {p99_ms:g} ms at {clients} clients: --max-batch-size {best['max_batch_size']} "
                       f"--max-delay-ms {best['max_delay_ms']:g} ({best['rps']:.0f} calls/s, p99 {best['p99_ms']:.1f} ms)")
        else:
            click.echo(f"no setting met p99 <= {p99_ms:g} ms at {clients} clients; try fewer clients or more replicas")
        return
    emit(run_cloud_benchmark(bundle, seconds=seconds, clients=clients, max_delay_ms=max_delay_ms, progress=say), fmt)


@bench.command("fleet")
@click.option("--devices", type=int, default=1000, show_default=True, help="Simulated devices, one telemetry message a second each.")
@click.option("--seconds", type=float, default=10.0, show_default=True)
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def bench_fleet(devices: int, seconds: float, fmt: str) -> None:
    """Does the fleet manager keep up? Messages handled vs sent and the p99 ingest lag."""
    from benchmarks.fleet import run_fleet_benchmark

    say = (lambda message: click.echo(message, err=True)) if fmt == "table" else (lambda message: None)
    emit(run_fleet_benchmark(devices=devices, seconds=seconds, progress=say), fmt)


@bench.command("edge")
@click.option("--repository", type=click.Path(path_type=Path), default=DEFAULT_REPOSITORY, show_default=True)
@click.option("--data", help="Online Retail file or folder [env SPLITRANK_DATA; default: ../shared/data when present].")
@click.option("--calls", type=int, default=3000, show_default=True, help="Timed SDK calls on the local route.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def bench_edge(repository: Path, data: str | None, calls: int, fmt: str) -> None:
    """Local-route latency through the SDK, split payload bytes and the codec's NDCG cost, on the real test split."""
    from benchmarks.edge import run_edge_benchmark
    from cloud.data.errors import DataError
    from splitrank.reports.replay import replay_test_split

    say = (lambda message: click.echo(message, err=True)) if fmt == "table" else (lambda message: None)
    try:
        bundle = resolve_bundle(repository)
        say("replaying the test split through the edge model")
        replayed, edge, cloud = replay_test_split(bundle, data)
        result = run_edge_benchmark(bundle, replayed, cloud, edge.codes, calls=calls, progress=say)
    except (BundleError, DataError, RuntimeError) as err:
        _fail(str(err))
    emit(result, fmt)


@report.command("cost")
@click.option("--prices", type=click.Path(path_type=Path), help="Your copy of core/prices.toml [default: the packaged one].")
@click.option("--cloud-compute-ms", type=float, default=0.5, show_default=True, help="Cloud compute per request of the example.")
@click.option("--bytes-up", type=float, default=200.0, show_default=True)
@click.option("--bytes-down", type=float, default=80.0, show_default=True)
@click.option("--edge-compute-us", type=float, default=100.0, show_default=True)
def report_cost(prices: Path | None, cloud_compute_ms: float, bytes_up: float, bytes_down: float, edge_compute_us: float) -> None:
    """Explain the cost model with the numbers it uses, on one example request."""
    from core.costs import DEFAULT_PRICES, Prices, explain

    try:
        loaded = Prices.load(prices)
    except ValueError as err:
        _fail(str(err))
    click.echo(f"prices from {prices or DEFAULT_PRICES}:")
    for key, value in loaded.as_dict().items():
        click.echo(f"  {key:<24} {value:g}")
    click.echo("one request:")
    example = {"cloud_compute_s": cloud_compute_ms / 1000, "bytes_up": bytes_up, "bytes_down": bytes_down, "edge_compute_s": edge_compute_us / 1e6}
    for line in explain(loaded, example):
        click.echo(f"  {line}")


@report.command("router")
@click.option("--repository", type=click.Path(path_type=Path), default=DEFAULT_REPOSITORY, show_default=True)
@click.option("--data", help="Online Retail file or folder [env SPLITRANK_DATA; default: ../shared/data when present].")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def report_router(repository: Path, data: str | None, fmt: str) -> None:
    """NDCG@10 against cloud-call fraction for random, threshold and learned routing, on the real test split."""
    from cloud.data.errors import DataError
    from splitrank.reports.replay import replay_test_split
    from splitrank.reports.router import router_report

    try:
        bundle = resolve_bundle(repository)
        replayed, edge, cloud = replay_test_split(bundle, data)
    except (BundleError, DataError) as err:
        _fail(str(err))
    if edge.gain_model is None:
        _fail(f"{bundle} has no router model (edge/router.json); retrain with `splitrank train`")
    result = router_report(replayed, cloud, edge.gain_model)
    emit(result, fmt)
    if fmt == "table":
        click.echo(f"{'cloud share':>12} " + " ".join(f"{name:>10}" for name in result["curves"]))
        for i, (fraction, _) in enumerate(result["curves"]["random"]):
            click.echo(f"{fraction:>12.2f} " + " ".join(f"{curve[i][1]:>10.4f}" for curve in result["curves"].values()))


@main.group()
def data() -> None:
    """The training data: where it is, what cleaning does to it, how to get it."""


@data.command("info")
@click.option("--data", "path", type=click.Path(path_type=Path), help="Online Retail file or folder [env SPLITRANK_DATA].")
def data_info(path: Path | None) -> None:
    """Cleaning report and split sizes of the Online Retail data."""
    from cloud.data import DataError
    from cloud.training.pipeline import TrainSettings, load_dataset

    try:
        _, info = load_dataset(TrainSettings(data=str(path) if path else None))
    except DataError as err:
        _fail(str(err))
    click.echo(json.dumps(info, indent=2))


@data.command("download")
@click.option("--to", "target", type=click.Path(path_type=Path), default=Path("data"), show_default=True)
def data_download(target: Path) -> None:
    """Download UCI Online Retail (CC BY 4.0) and write online_retail/online_retail.csv.gz (needs internet and openpyxl)."""
    from cloud.data.download import download_online_retail

    path = download_online_retail(target, echo=click.echo)
    click.echo(f"written {path}; use it with --data {target} or SPLITRANK_DATA={target}")


main.add_command(fleet)
main.add_command(broker)

if __name__ == "__main__":
    main()
