"""The serving repository retries a bundle that was refused while still being copied in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cloud.serving.repository import ModelRepository, UnknownVersion

pytestmark = pytest.mark.slow


def test_half_copied_bundle_is_retried_once_complete(tiny_bundle: Path, tmp_path: Path) -> None:
    repository = ModelRepository(tmp_path)
    with pytest.raises(UnknownVersion):
        repository.get()
    shutil.copytree(tiny_bundle, tmp_path / "1", ignore=shutil.ignore_patterns("catalogue.json"))
    assert repository.refresh() is None
    assert "catalogue.json" in repository.refused["1"]
    shutil.copy(tiny_bundle / "catalogue.json", tmp_path / "1" / "catalogue.json")
    assert repository.refresh() == "1"
    assert repository.get().version == "1" and repository.get("1") is repository.current
