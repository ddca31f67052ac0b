"""The ``splitrank`` command line. Each subcommand imports its heavy parts only when it runs,
so ``splitrank --help`` is instant and a device without TensorFlow can still use the edge commands."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cloud.serving.settings import ServeSettings
from cloud.training.settings import TrainSettings
from core.bundle import DEFAULT_REPOSITORY, BundleError, load_manifest, resolve_bundle
from core.logs import configure_logging
from core.settings import SettingsError
from edge.settings import AgentSettings
from splitrank import __version__
from splitrank._flags import F, settings_flags
from splitrank._output import emit
from splitrank.cli_fleet import broker, fleet
from splitrank.quiet_tensorflow import LOG_LEVEL_ENV, converter_lines_dropped, import_tensorflow

FORMAT_CHOICE = click.Choice(["table", "json"])


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _require_ray() -> None:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        _fail('Ray Serve is not installed: pip install "splitrank[ray]"')


def _test_split_report_options(command: F) -> F:
    """--repository, --data and --format of a report replayed on the real test split."""
    command = click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)(command)
    command = click.option("--data", help="Online Retail file or folder [env SPLITRANK_DATA; default: ../shared/data when present].")(command)
    return click.option("--repository", type=click.Path(path_type=Path), default=DEFAULT_REPOSITORY, show_default=True)(command)


TENSORFLOW_COMMANDS = {"train", "serve-cloud", "demo", "report", "bench"}
"""Commands that load TensorFlow (imported quietly before they run; the device's commands never load it)."""


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM as an exit, not a kill: ``finally`` blocks run, so the demo and the benchmarks stop the cloud server,
    broker and agents they started instead of leaving them running."""
    raise SystemExit(128 + signum)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="splitrank")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False), envvar=LOG_LEVEL_ENV,
              help=f"Log level of every program this command starts; debug also shows TensorFlow's start-up lines [env {LOG_LEVEL_ENV}].")
@click.pass_context
def main(ctx: click.Context, log_level: str | None) -> None:
    """splitrank: a TFLite ranker on the device, a GPU reranker in the cloud, a router between them.

    Start with `splitrank train` (makes a model bundle from real data), then `splitrank report models`.
    """
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # servers replace it with their own drain; the rest unwind and stop what they started
    if log_level:
        os.environ[LOG_LEVEL_ENV] = log_level  # the programs a command starts (demo, benchmarks) inherit it
    if ctx.invoked_subcommand in TENSORFLOW_COMMANDS and "--help" not in sys.argv and "-h" not in sys.argv:
        import_tensorflow()


@main.command()
@settings_flags(TrainSettings, "data", "user_col", "item_col", "time_col", "basket_col", "quantity_col", "price_col", "rating_col",
                "min_rating", "time_format", "repository")
@click.option("--config", type=click.Path(path_type=Path), help="TOML file with a [train] table of these settings.")
@settings_flags(TrainSettings, "max_examples", "teacher_epochs", "student_epochs", "reranker_epochs", "seed")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True, help="Summary as a table or JSON.")
def train(config: Path | None, fmt: str, **flags: Any) -> None:
    """Train the teacher, student and split reranker on real data and write a versioned model bundle.

    The bundle is written to a temporary directory and renamed into place only when complete.
    """
    try:
        settings = TrainSettings.load(config, flags)
    except SettingsError as err:
        _fail(str(err))
    from cloud.data import DataError
    from cloud.training.pipeline import run_training
    from splitrank._progress import StageProgress

    try:
        with converter_lines_dropped(), StageProgress(enabled=fmt == "table") as progress:
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
@settings_flags(ServeSettings, "repository", "host", "port", "max_batch_size", "max_delay_ms", "max_queue", "metrics_port", "engine",
                "ray_address", "ray_replicas", "ray_max_replicas", "ray_replica_cpus")
@click.option("--workers", type=int, default=1, show_default=True, help="Server processes sharing the port (SO_REUSEPORT), one event loop each.")
@click.option("--config", type=click.Path(path_type=Path), help="TOML file with a [serve] table (TLS files, limits, ...).")
@click.option("--log-level", default="INFO", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def serve_cloud(workers: int, config: Path | None, log_level: str, **flags: Any) -> None:
    """Serve the split reranker and the teacher over gRPC (health, reflection, batching, hot reload)."""
    try:
        settings = ServeSettings.load(config, flags)
    except SettingsError as err:
        _fail(str(err))
    configure_logging(log_level)
    try:
        if settings.engine == "ray":
            _require_ray()
            from cloud.serving.ray_app import serve_until_stopped

            sys.exit(serve_until_stopped(settings))
        from cloud.serving.workers import serve_workers

        sys.exit(serve_workers(settings, workers, log_level))  # one worker too: it starts with the core's shedding (core_admission)
    except (BundleError, ValueError, OSError) as err:
        _fail(str(err))


@main.command("run-agent")
@settings_flags(AgentSettings, "repository", "port", "host", "unix_socket", "cloud", "cloud_tls", "policy", "target_cloud_fraction",
                "budget_usd_per_hour", "histories", "encoding", "split_candidates", "split_mode",
                "private_history_items", "dp_epsilon", "device_id", "mqtt", "mqtt_tls_ca_file",
                "mqtt_tls_cert_file", "mqtt_tls_key_file", "state_dir", "release_public_key")
@click.option("--config", type=click.Path(path_type=Path), help="TOML file with an [agent] table of these settings.")
@click.option("--log-level", default="INFO", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def run_agent(config: Path | None, log_level: str, **flags: Any) -> None:
    """Run the on-device agent: TFLite edge ranking for local apps, with a router to the cloud reranker."""
    try:
        settings = AgentSettings.load(config, flags)
    except SettingsError as err:
        _fail(str(err))
    import asyncio

    from splitrank.device_agent import serve_device_agent

    configure_logging(log_level)
    try:
        asyncio.run(serve_device_agent(settings))
    except (BundleError, ValueError, OSError, RuntimeError) as err:
        _fail(str(err))


@main.command()
@click.option("--repository", type=click.Path(path_type=Path), default=DEFAULT_REPOSITORY, show_default=True,
              help="Model repository; a bundle is trained into it when it has none.")
@click.option("--data", help="Online Retail file or folder [env SPLITRANK_DATA; default: ../shared/data when present].")
@click.option("--requests", type=int, default=2000, show_default=True, help="Test-period requests replayed per policy.")
@click.option("--rate", type=float, default=50.0, show_default=True, help="Requests per second.")
@click.option("--deadline-ms", type=float, default=300.0, show_default=True, help="The app's deadline per request.")
@click.option("--profiles", default="wifi,4g,3g,lossy", show_default=True, help="One agent per network profile (wifi, 4g, 3g, lossy, lan).")
@click.option("--routed-fraction", type=float, default=0.6, show_default=True, help="Cap on each device's cloud-call share under the routed policy.")
@click.option("--routed-budget-fraction", type=float, default=0.2, show_default=True,
              help="The fleet's price of a cloud call: the gain model's threshold for this share of its validation requests.")
@click.option("--routed-cloud-timeout-ms", type=float, default=100.0, show_default=True,
              help="The routed policy answers from the edge when the cloud takes longer.")
@click.option("--policies", default="local,local+push,split,cloud,routed", show_default=True,
              help="local: the release day's prior; the others get the daily prior push as the replay crosses each day.")
@click.option("--report-dir", type=click.Path(path_type=Path), default=Path("demo-report"), show_default=True)
@click.option("--prices", type=click.Path(path_type=Path), help="Your copy of core/prices.toml.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def demo(repository: Path, data: str | None, requests: int, rate: float, deadline_ms: float, profiles: str, routed_fraction: float,
         routed_budget_fraction: float, routed_cloud_timeout_ms: float, policies: str, report_dir: Path, prices: Path | None, fmt: str) -> None:
    """The whole system on this machine: cloud server, broker, fleet manager and one agent per network
    profile as separate processes; replays the held-out test period through the SDK for each policy and
    reports quality, latency, cloud use, bytes, privacy, energy and dollars (JSON, text and PNG plots), per
    policy and per agent. The fleet manager pushes each day's popularity prior as the replay crosses that
    day; the first agent is offline (misses the pushes) for three weeks of it."""
    from cloud.data.errors import DataError
    from splitrank._progress import StageProgress
    from splitrank.demo.run import DemoSettings, run_demo
    from splitrank.netem import PROFILES

    names = tuple(p.strip() for p in profiles.split(",") if p.strip())
    if not names or any(name not in PROFILES for name in names):
        _fail(f"--profiles must name some of {sorted(PROFILES)}")
    settings = DemoSettings(repository=repository, data=data, profiles=names, requests=requests, rate_per_s=rate, deadline_ms=deadline_ms,
                            routed_fraction=routed_fraction, routed_budget_fraction=routed_budget_fraction, routed_cloud_timeout_ms=routed_cloud_timeout_ms, report_dir=report_dir, prices=prices,
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
    from splitrank.demo.report import agent_table, profile_table, table

    click.echo("\n".join(table(result["policies"]) + [""] + profile_table(result["policies"]) + [""] + agent_table(result["policies"])))
    for key, value in result.get("routed_vs_cloud", {}).items():
        click.echo(f"{key:>28}: {value:.3f}")
    click.echo(f"report, plots: {report_dir}/")


@main.group()
def report() -> None:
    """Offline reports on a trained bundle: its models, routing, the freshness push, privacy of split calls, and costs."""


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
        name = f"{row['name']} ({row['prior']} prior)" if row.get("prior") else row["name"]
        table.add_row(name, row["format"], size, f"{row['ndcg_at_10']:.4f}", f"{row['recall_at_20']:.4f}",
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
@click.option("--repeats", type=click.Choice(["alternate", "both", "with", "without"]), default="alternate", show_default=True,
              help="Logs with repeat purchases, without, one of each per size (both), or one per size alternating "
                   "with/without (alternate: half the time of both).")
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
    emit(run_train_benchmark(sizes=size_list, items=items, repeats=repeats, edge_items=edge_list, progress=say), fmt)


@bench.command("cloud")
@click.option("--repository", type=click.Path(path_type=Path), default=DEFAULT_REPOSITORY, show_default=True)
@click.option("--seconds", type=float, default=8.0, show_default=True, help="Length of each throughput phase (the overload phases run 10 s each).")
@click.option("--clients", type=int, default=64, show_default=True, help="Concurrent clients for the batching phase and the sweep.")
@click.option("--max-delay-ms", type=float, default=2.0, show_default=True, help="The server's max queue delay in the batched phases.")
@click.option("--workers", type=int, default=1, show_default=True, help="Server processes on one port (SO_REUSEPORT), on the server's cores.")
@click.option("--server-cores", type=int, default=1, show_default=True, help="Cores for the server; the load generator gets the others.")
@click.option("--generator-processes", type=int, default=2, show_default=True, help="Load generator processes, on the other cores.")
@click.option("--sweep", is_flag=True, help="Instead: try max batch sizes x max queue delays and print the best for --p99-ms.")
@click.option("--p99-ms", type=float, default=50.0, show_default=True, help="Latency target the sweep's best setting must meet.")
@click.option("--engine", type=click.Choice(["standalone", "ray"]), default="standalone", show_default=True,
              help="ray: Ray Serve with 1 and 2 replicas against the standalone server on the same cores (needs the [ray] extra).")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def bench_cloud(repository: Path, seconds: float, clients: int, max_delay_ms: float, workers: int, server_cores: int, generator_processes: int,
                sweep: bool, p99_ms: float, engine: str, fmt: str) -> None:
    """Serving cost vs a bare echo, batching gain, and overload behaviour of the cloud server, the server
    pinned to its own core(s) and the load generator to the others; with --sweep, the batching knobs that give
    the most throughput within a p99 target; with --engine ray, Ray Serve against the standalone server."""
    from benchmarks.cloud import run_cloud_benchmark, run_cloud_sweep

    try:
        bundle = resolve_bundle(repository)
    except BundleError as err:
        _fail(str(err))
    say = (lambda message: click.echo(message, err=True)) if fmt == "table" else (lambda message: None)
    if engine == "ray":
        from benchmarks.cloud_ray import run_ray_cloud_benchmark

        _require_ray()
        emit(run_ray_cloud_benchmark(bundle, clients=clients, seconds=seconds, max_delay_ms=max_delay_ms, processes=generator_processes,
                                     server_cores=server_cores, progress=say), fmt)
        return
    if sweep:
        found = run_cloud_sweep(bundle, p99_target_ms=p99_ms, clients=clients, seconds=min(seconds, 3.0), processes=generator_processes,
                                progress=say)
        if fmt == "json":
            click.echo(json.dumps(found, indent=2))
        elif found["best"]:
            best = found["best"]
            click.echo(f"best for p99 <= {p99_ms:g} ms at {clients} clients: --max-batch-size {best['max_batch_size']} "
                       f"--max-delay-ms {best['max_delay_ms']:g} ({best['rps']:.0f} calls/s, p99 {best['p99_ms']:.1f} ms)")
        else:
            click.echo(f"no setting met p99 <= {p99_ms:g} ms at {clients} clients; try fewer clients or more replicas")
        return
    emit(run_cloud_benchmark(bundle, seconds=seconds, clients=clients, max_delay_ms=max_delay_ms, processes=generator_processes, workers=workers,
                             server_cores=server_cores, progress=say), fmt)


@bench.command("fleet")
@click.option("--devices", type=int, default=1000, show_default=True, help="Simulated devices, one telemetry message a second each.")
@click.option("--seconds", type=float, default=None, help="[default: 10, or 20 with --kill-one]")
@click.option("--managers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Fleet manager processes sharing the ingest as one group (more than one needs mosquitto).")
@click.option("--kill-one", is_flag=True, help="SIGKILL one manager halfway: the others must count its share, nothing lost or doubled.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def bench_fleet(devices: int, seconds: float | None, managers: int, kill_one: bool, fmt: str) -> None:
    """Do the fleet managers keep up, and survive one's death? Messages counted vs sent, losses, double counts, p99 ingest lag."""
    from benchmarks.fleet import run_fleet_benchmark

    say = (lambda message: click.echo(message, err=True)) if fmt == "table" else (lambda message: None)
    try:
        result = run_fleet_benchmark(devices=devices, seconds=seconds or (20.0 if kill_one else 10.0), managers=managers, kill_one=kill_one,
                                     progress=say)
    except (RuntimeError, ValueError) as err:
        _fail(str(err))
    emit(result, fmt)


def _steady_load_options(command: F) -> F:
    """--rate, --deadline-ms and --format of the benchmarks that hold a steady SDK load (soak, chaos)."""
    command = click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)(command)
    command = click.option("--deadline-ms", type=click.FloatRange(min=10), default=2000.0, show_default=True, help="Each SDK call's deadline.")(command)
    return click.option("--rate", type=click.FloatRange(min=0.1), default=10.0, show_default=True, help="SDK requests a second per agent.")(command)


def _run_under_steady_load(run: Callable[[Callable[[str], None]], dict[str, Any]], fmt: str) -> None:
    """Run a steady-load benchmark with its progress on stderr; a missing bundle or a stack that fails to start is an error."""
    try:
        result = run(lambda message: click.echo(message, err=True))
    except (BundleError, RuntimeError, TimeoutError, FileNotFoundError) as err:
        _fail(str(err))
    emit(result, fmt)


@bench.command("soak")
@click.option("--repository", type=click.Path(path_type=Path), default=DEFAULT_REPOSITORY, show_default=True)
@click.option("--minutes", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
@_steady_load_options
def bench_soak(repository: Path, minutes: float, rate: float, deadline_ms: float, fmt: str) -> None:
    """Steady load through SDK, agents, cloud, mosquitto and manager: RSS, descriptors and threads of each process, minute 5 vs the end."""
    from benchmarks.soak import run_soak

    _run_under_steady_load(lambda say: run_soak(resolve_bundle(repository), minutes=minutes, rate_per_s=rate, deadline_s=deadline_ms / 1000, progress=say),
                           fmt)


@bench.command("chaos")
@click.option("--repository", type=click.Path(path_type=Path), default=DEFAULT_REPOSITORY, show_default=True)
@click.option("--faults", default="cloud_kill,cloud_stop,network_cut,broker_kill,agent_restart,disk_full,clock_step",
              show_default=True, help="Faults to inject, in this order.")
@_steady_load_options
def bench_chaos(repository: Path, faults: str, rate: float, deadline_ms: float, fmt: str) -> None:
    """Faults one after another under a steady SDK load: requests failed, telemetry lost, duplicates, seconds to recover per fault."""
    from benchmarks.chaos import FAULTS, run_chaos

    names = [name.strip() for name in faults.split(",") if name.strip()]
    if unknown := sorted(set(names) - set(FAULTS)):
        _fail(f"unknown faults {unknown}; known: {list(FAULTS)}")
    _run_under_steady_load(lambda say: run_chaos(resolve_bundle(repository), faults=names, rate_per_s=rate, deadline_s=deadline_ms / 1000, progress=say),
                           fmt)


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


@bench.command("fuzz")
@click.option("--repository", type=click.Path(path_type=Path), default=DEFAULT_REPOSITORY, show_default=True)
@click.option("--examples", type=int, default=500, show_default=True, help="Hostile inputs per method.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def bench_fuzz(repository: Path, examples: int, fmt: str) -> None:
    """Hostile bytes against every method of a running serve-cloud and run-agent: codes per method, crashes, serving afterwards."""
    try:
        from benchmarks.fuzz import run_fuzz_benchmark
    except ImportError as err:
        _fail(f"bench fuzz needs the dev extra (pip install 'splitrank[dev]'): {err}")

    say = (lambda message: click.echo(message, err=True)) if fmt == "table" else (lambda message: None)
    try:
        result = run_fuzz_benchmark(resolve_bundle(repository), examples=examples, progress=say)
    except (BundleError, RuntimeError) as err:
        _fail(str(err))
    if fmt == "table":
        for row in result["methods"]:
            codes = ", ".join(f"{code} {count}" for code, count in sorted(row["codes"].items()))
            click.echo(f"{row['service']:<6} {row['method']:<48} inputs {row['inputs']:>5}  undecodable {row['undecodable']:>5}  "
                       f"crashes {row['crashes']}  unexpected {row['unexpected_codes']}  ({codes})")
    emit(result, fmt)


@report.command("cost")
@click.option("--prices", type=click.Path(path_type=Path), help="Your copy of core/prices.toml [default: the packaged one].")
@click.option("--cloud-compute-ms", type=float, default=0.5, show_default=True, help="Cloud compute per request of the example.")
@click.option("--bytes-up", type=float, default=200.0, show_default=True)
@click.option("--bytes-down", type=float, default=80.0, show_default=True)
@click.option("--edge-compute-us", type=float, default=100.0, show_default=True)
@click.option("--push-bytes", type=float, default=2500.0, show_default=True, help="One freshness push (see `report freshness`).")
@click.option("--push-compute-s", type=float, default=0.2, show_default=True, help="Cloud CPU seconds to compute and sign one push.")
@click.option("--devices", type=int, default=10_000, show_default=True, help="Devices one push reaches.")
@click.option("--requests-per-push", type=float, default=20.0, show_default=True, help="Requests a device answers between pushes.")
def report_cost(prices: Path | None, cloud_compute_ms: float, bytes_up: float, bytes_down: float, edge_compute_us: float, push_bytes: float,
                push_compute_s: float, devices: int, requests_per_push: float) -> None:
    """Explain the cost model with the numbers it uses, on one example request, and the freshness push amortized per request."""
    from core.costs import DEFAULT_PRICES, Prices, explain, push_cost_per_request

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
    push = push_cost_per_request(loaded, push_bytes=push_bytes, compute_s=push_compute_s, devices=devices, requests_per_device=requests_per_push)
    click.echo(f"the freshness push ({push_bytes:.0f} B to each of {devices} devices, {push_compute_s} s of one core, "
               f"{requests_per_push:g} requests per device between pushes), per request:")
    click.echo(f"  {push.usd * 1e6:.6f} USD per million requests (egress {push.egress_usd * 1e6:.6f}, compute "
               f"{(push.hardware_usd + push.operations_usd) * 1e6:.6f}); device radio {push.device_joules * 1000:.4f} mJ per request")


@report.command("router")
@_test_split_report_options
def report_router(repository: Path, data: str | None, fmt: str) -> None:
    """NDCG@10 against cloud-call fraction for random, threshold and learned routing, on the real test split: for the
    bundle as shipped, and for a fleet whose popularity prior is fresh, 7, 30 and 60 days old."""
    from cloud.data.errors import DataError
    from cloud.training.pipeline import load_dataset
    from splitrank.reports.replay import load_models, replay, replay_by_prior_age
    from splitrank.reports.router import router_report

    try:
        bundle = resolve_bundle(repository)
        edge, cloud = load_models(bundle)
        dataset, _ = load_dataset(TrainSettings(data=data, history_len=edge.history_len))
    except (BundleError, DataError) as err:
        _fail(str(err))
    if edge.gain_model is None:
        _fail(f"{bundle} has no router model (edge/router.json); retrain with `splitrank train`")
    result = router_report(replay(dataset, dataset.test, edge), cloud, edge.gain_model,
                           by_prior_age=replay_by_prior_age(dataset, dataset.test, edge))
    emit(result, fmt)
    if fmt == "table":
        click.echo(f"{'cloud share':>12} " + " ".join(f"{name:>10}" for name in result["curves"]))
        for i, (fraction, _) in enumerate(result["curves"]["random"]):
            click.echo(f"{fraction:>12.2f} " + " ".join(f"{curve[i][1]:>10.4f}" for curve in result["curves"].values()))
        click.echo(f"{'prior age':>12} {'local':>8} {'split':>8} {'learned@30':>11} {'sent at the release price':>26}")
        for days, row in result["by_prior_age"].items():
            click.echo(f"{days + ' days':>12} {row['local_ndcg']:>8.4f} {row['split_ndcg']:>8.4f} {row['learned_gain_share_at_30']:>11.2f} "
                       f"{row['learned_cloud_share_at_release_price']:>26.2f}")


@report.command("freshness")
@_test_split_report_options
def report_freshness(repository: Path, data: str | None, fmt: str) -> None:
    """Edge NDCG@10 fed the release day's, a weekly and a daily pushed prior, against split and cloud, on the real
    test split; the push's bytes (full and delta), compute and cost per request."""
    from cloud.data.errors import DataError
    from splitrank.reports.freshness import freshness_report

    try:
        result = freshness_report(resolve_bundle(repository), data)
    except (BundleError, DataError) as err:
        _fail(str(err))
    emit(result, fmt)


@report.command("privacy")
@_test_split_report_options
@click.option("--private-history-items", type=click.IntRange(min=0), default=0, show_default=True,
              help="History items the private split call may still carry (the agent's --private-history-items).")
def report_privacy(repository: Path, data: str | None, private_history_items: int, fmt: str) -> None:
    """What an observer of split calls learns of each customer's purchase history (the share of their history items among
    the candidate ids), and NDCG@10, for the standard and the private split call, on the real test split."""
    from cloud.data.errors import DataError
    from splitrank.reports.privacy import privacy_report
    from splitrank.reports.replay import replay_test_split

    try:
        replayed, _, cloud = replay_test_split(resolve_bundle(repository), data)
    except (BundleError, DataError) as err:
        _fail(str(err))
    emit(privacy_report(replayed, cloud, private_history_items=private_history_items), fmt)


@main.group()
def data() -> None:
    """The training data: where it is, what cleaning does to it, how to get it."""


@data.command("info")
@click.option("--data", "path", type=click.Path(path_type=Path), help="Online Retail file or folder [env SPLITRANK_DATA].")
def data_info(path: Path | None) -> None:
    """Cleaning report and split sizes of the Online Retail data."""
    from cloud.data import DataError
    from cloud.training.pipeline import load_dataset

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
