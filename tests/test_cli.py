"""The command line, run as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SUBCOMMANDS = ["train", "report", "bench", "data"]


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splitrank.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600, check=False)


def test_help_lists_subcommands_and_each_has_help() -> None:
    top = _run("--help")
    assert top.returncode == 0
    for name in SUBCOMMANDS:
        assert name in top.stdout
    for args in (["train"], ["report"], ["report", "models"], ["bench"], ["bench", "edge-step"], ["data"], ["data", "info"], ["data", "download"]):
        result = _run(*args, "--help")
        assert result.returncode == 0 and "Usage:" in result.stdout, args


def test_train_on_missing_data_fails_clearly(tmp_path: Path) -> None:
    result = _run("train", "--data", str(tmp_path / "nope.csv.gz"), "--repository", str(tmp_path / "repo"))
    assert result.returncode == 2
    assert "error:" in result.stderr and "nope.csv.gz" in result.stderr
    assert not (tmp_path / "repo").exists() or not any((tmp_path / "repo").iterdir())


def test_train_with_incomplete_csv_columns_fails(tmp_path: Path) -> None:
    result = _run("train", "--data", str(tmp_path / "x.csv"), "--user-col", "u")
    assert result.returncode == 2 and "--item-col" in result.stderr


def test_report_without_bundle_says_what_to_do(tmp_path: Path) -> None:
    result = _run("report", "models", "--repository", str(tmp_path))
    assert result.returncode == 2 and "splitrank train" in result.stderr


@pytest.mark.slow
def test_report_models_json(tiny_bundle: Path) -> None:
    result = _run("report", "models", "--repository", str(tiny_bundle.parent), "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    keys = {"name", "format", "size_bytes", "ndcg_at_10", "recall_at_20", "hit_rate_at_10", "latency_p50_us"}
    assert all(keys <= set(row) for row in rows)
    assert {row["format"] for row in rows if row["name"] == "student"} == {"float32", "dynamic_int8", "full_int8", "pruned_int8"}


@pytest.mark.slow
def test_bench_edge_step_json(tiny_bundle: Path) -> None:
    result = _run("bench", "edge-step", "--repository", str(tiny_bundle), "--requests", "200", "--format", "json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["runtime"] == "ai_edge_litert"
    assert figures["tflite_p50_us"] > 0 and figures["keras_eager_p50_us"] > 0
    assert figures["speedup_p50"] == pytest.approx(figures["keras_eager_p50_us"] / figures["tflite_p50_us"])
    assert figures["tflite_after_idle_p50_us"] > 0 and figures["idle_between_calls_ms"] == 0.5


BAD_FILES = {
    "corrupt gzip": (b"\x1f\x8b\x08\x00garbage", "cannot be read"),
    "wrong columns": (b"a,b\n1,2\n", "missing columns"),
    "non-numeric quantity": ((b"invoice,stock_code,description,quantity,invoice_date,unit_price,customer_id,country\n"
                              b"536365,85123A,X,lots,2010-12-01T08:26:00,2.55,17850,UK\n"), "'quantity' must be numeric"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_train_on_bad_data_names_the_problem_and_writes_nothing(tmp_path: Path, case: str) -> None:
    import gzip

    content, message = BAD_FILES[case]
    data = tmp_path / "online_retail.csv.gz"
    data.write_bytes(content if content.startswith(b"\x1f\x8b") else gzip.compress(content))
    result = _run("train", "--data", str(data), "--repository", str(tmp_path / "repo"))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "repo").exists() or not any((tmp_path / "repo").iterdir())


OWN_LOG_HEADER = "user_id,item_id,timestamp,rating\n"
BAD_OWN_LOGS = {
    "unknown timestamp format": ("u1,0001,1362141000,8\nu2,0002,last tuesday,7\n", [],
                                 "row 3 has 'last tuesday', a timestamp in no known format (tried iso, unix_s, unix_ms"),
    "non-numeric rating": ("u1,0001,1362141000,8\nu2,0002,1362211200,great\n", ["--rating-col", "rating"],
                           "'rating' must be numeric, row 3 has 'great'"),
    "single day": ("u1,0001,1362141000,8\nu2,0002,1362142000,7\nu1,0003,1362143000,9\n", [], "needs interactions on at least 3 days"),
    "one user": ("u1,0001,1362141000,8\nu1,0002,1362311200,7\nu1,0003,1362511200,9\n", [], "the log has one user ('u1')"),
    "min rating without its column": ("u1,0001,1362141000,8\n", ["--min-rating", "5"], "--min-rating needs"),
}


@pytest.mark.parametrize("case", sorted(BAD_OWN_LOGS))
def test_train_on_a_bad_own_log_names_the_problem_and_writes_nothing(tmp_path: Path, case: str) -> None:
    rows, flags, message = BAD_OWN_LOGS[case]
    data = tmp_path / "log.csv"
    data.write_text(OWN_LOG_HEADER + rows)
    result = _run("train", "--data", str(data), "--user-col", "user_id", "--item-col", "item_id", "--time-col", "timestamp",
                  *flags, "--repository", str(tmp_path / "repo"))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "repo").exists()


def test_tensorflow_commands_print_no_tensorflow_start_up_lines_unless_debug() -> None:
    quiet = _run("report", "cost")
    assert quiet.returncode == 0 and "gpu_usd_per_hour" in quiet.stdout
    for noise in ("oneDNN", "cudart_stub", "absl::InitializeLog", "cpu_feature_guard"):
        assert noise not in quiet.stderr, quiet.stderr
