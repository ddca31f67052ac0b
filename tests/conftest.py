"""Shared fixtures: synthetic data in the Online Retail format and one tiny trained bundle per session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import hypothesis  # imported early: a lazy import deep in a test's stack trips CPython 3.11.7's AST bug (gh-106905)
import pytest

from cloud.data.synthetic import write_synthetic_online_retail

if TYPE_CHECKING:
    from tests.cloud.server_thread import ServerThread

# CI runs the same fuzz examples every time (a red CI must mean a change broke something); local runs explore.
hypothesis.settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small Online Retail style file (unit tests only; quality figures come from the real set)."""
    return write_synthetic_online_retail(tmp_path_factory.mktemp("data") / "online_retail" / "online_retail.csv.gz")


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory, synthetic_data: Path) -> Path:
    """A bundle trained by the real pipeline on synthetic data, one epoch per model."""
    from cloud.training.pipeline import TrainSettings, run_training

    repository = tmp_path_factory.mktemp("repository")
    settings = TrainSettings(data=str(synthetic_data), repository=repository, teacher_epochs=1, student_epochs=1,
                             reranker_epochs=1, teacher_latency_samples=5, history_len=16)
    return run_training(settings)


@pytest.fixture(scope="module")
def cloud(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """A real cloud server on a free port serving a copy of the tiny bundle (for agent and in-process tests)."""
    from cloud.serving.settings import ServeSettings
    from tests.cloud.server_thread import ServerThread

    root = tmp_path_factory.mktemp("cloud")
    shutil.copytree(tiny_bundle, root / tiny_bundle.name)
    server = ServerThread(ServeSettings(repository=root, port=0))
    yield server
    server.close()
