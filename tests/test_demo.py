"""`splitrank demo` end to end on the tiny bundle and synthetic data: real processes (cloud server,
embedded broker, agents), real proxies, the fleet switching policies, the report and its plots."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from splitrank.demo.run import DemoSettings, run_demo

pytestmark = pytest.mark.slow


def test_demo_runs_every_policy_and_writes_the_report(tiny_bundle: Path, synthetic_data: Path, tmp_path: Path) -> None:
    repository = tmp_path / "models"
    shutil.copytree(tiny_bundle, repository / tiny_bundle.name)
    settings = DemoSettings(repository=repository, data=str(synthetic_data), profiles=("lan", "wifi"), requests=60, rate_per_s=40.0,
                            deadline_ms=1000.0, report_dir=tmp_path / "report")
    result = run_demo(settings, say=lambda line: None)
    policies = result["policies"]
    assert set(policies) == {"local", "local+push", "split", "cloud", "routed"}
    assert result["prior_pushes"] > 0, "the manager pushes each day's prior as the replay crosses it"
    for name, row in policies.items():
        agents = row["agents"]
        assert [a["profile"] for a in agents.values()] == ["lan", "wifi"] and sum(a["requests"] for a in agents.values()) == 60
        assert (sum(a["stale_window_requests"] for a in agents.values()) > 0) == (name != "local")
    for name, row in policies.items():
        assert row["requests"] == 60 and row["failed"] == 0, (name, row)
        assert set(row["profiles"]) == {"lan", "wifi"} and sum(p["requests"] for p in row["profiles"].values()) == 60
        for profile in row["profiles"].values():
            assert 0 <= profile["cloud_share"] <= 1 and profile["p50_ms"] <= profile["p99_ms"]
        assert 0 <= row["ndcg_at_10"] <= 1
    points = result["router_curve"]["points"]
    assert len(points) > 2 and points[-1]["cloud_share"] == 0  # no price clears the last point: every answer is local
    assert points[0]["cloud_share"] > 0 and any(p["budget_multiplier"] == result["router_curve"]["price"] for p in points)
    assert policies["local"]["cloud_share"] == 0 and policies["local"]["cloud_compute_s"] == 0
    assert policies["split"]["cloud_share"] > 0.9 and policies["split"]["raw_history_bytes_sent"] == 0  # history stays on the device
    assert policies["cloud"]["raw_history_bytes_sent"] > 0
    assert policies["cloud"]["bytes_up_per_request"] > policies["split"]["bytes_up_per_request"]
    assert result["fleet_telemetry"]["received"] > 0 and result["fleet_telemetry"]["missing"] == 0
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["policies"]["routed"]["p99_ms"] == policies["routed"]["p99_ms"]
    for plot in result["plots"]:
        assert Path(plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
