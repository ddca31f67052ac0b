"""``splitrank report privacy`` as a user runs it, on the tiny bundle and its synthetic data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_report_privacy_json_measures_both_modes(tiny_bundle: Path, synthetic_data: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "splitrank", "report", "privacy", "--repository", str(tiny_bundle), "--data", str(synthetic_data),
                             "--format", "json"], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["private_leak_share"] == 0.0 < report["default_leak_share"] <= 1.0
    assert 0 < report["private_candidates_sent"] < report["default_candidates_sent"]
    assert 0 < report["private_call_bytes"] < report["default_call_bytes"]
    for key in ("default_ndcg_at_10", "private_ndcg_at_10", "local_ndcg_at_10"):
        assert 0.0 <= report[key] <= 1.0
    leaks = [row["leak_share"] for row in report["by_history_items"].values()]
    assert leaks == sorted(leaks) and leaks[0] == 0.0  # each history item a call may carry leaks more
