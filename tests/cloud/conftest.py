"""Cloud-server fixtures: a real grpc.aio server on a free port, serving a copy of the tiny bundle."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.serving.server import ServeSettings
from tests.cloud.server_thread import ServerThread


@pytest.fixture(scope="module")
def repository(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    shutil.copytree(tiny_bundle, root / "1")
    return root


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[ServerThread]:
    running = ServerThread(ServeSettings(repository=repository, port=0, poll_interval_s=0.2, max_delay_ms=2.0))
    yield running
    running.close()
