"""Short runs of ``bench chaos`` and ``bench soak``: real processes (cloud server, agents, mosquitto), real sockets."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.chaos import run_chaos
from benchmarks.soak import run_soak


@pytest.mark.slow
def test_a_short_chaos_run_loses_no_request_and_no_telemetry(tiny_bundle: Path) -> None:
    faults = ["network_cut", "broker_kill", "disk_full", "clock_step"]
    result = run_chaos(tiny_bundle, faults=faults, rate_per_s=5.0, settle_s=1.0)
    assert result["failed"] == 0, result["errors"]
    assert result["telemetry_lost"] == 0 and result["duplicates"] == 0
    assert result["requests"] > 100 and result["telemetry_issued"] > 20
    ran = [name for name in faults if name not in result["not_run"]]
    assert set(result["recovery_s"]) == set(ran) and all(seconds >= 0 for seconds in result["recovery_s"].values())
    assert result["details"]["network_cut"]["degraded"] > 0  # the cut was felt, and answered locally
    steps = result["details"]["clock_step"]
    assert set(steps["prior_applied"].values()) == {steps["prior_pushed_while_behind"]}  # applied with the clock two days behind


@pytest.mark.slow
def test_a_short_soak_reports_every_process_and_fails_nothing(tiny_bundle: Path) -> None:
    result = run_soak(tiny_bundle, minutes=0.5, rate_per_s=5.0)
    assert result["failed"] == 0 and result["requests"] > 100
    assert {"cloud", "broker", "manager+load"} <= set(result["processes"]) and len(result["processes"]) >= 5
    for name, process in result["processes"].items():
        assert process["samples"] >= 6, name
        assert process["rss_mb"]["end"] > 0 and process["fds"]["end"] > 0 and process["threads"]["end"] >= 1, name
        assert -1.0 < process["rss_growth"] < 1.0, name
