"""Bundles are all-or-nothing and verified on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.bundle import BundleError, latest_bundle, load_manifest, versions, write_bundle


def _build(tmp: Path) -> tuple[dict, dict, list]:
    (tmp / "edge").mkdir()
    (tmp / "edge" / "model.tflite").write_bytes(b"model")
    return {"fingerprint": "abc"}, {"student": {}}, [{"name": "x"}]


def test_versions_count_up_and_verify(tmp_path: Path) -> None:
    first = write_bundle(tmp_path, _build)
    second = write_bundle(tmp_path, _build)
    assert [p.name for p in versions(tmp_path)] == ["1", "2"]
    manifest = load_manifest(second)
    assert manifest.version == "2" and "edge/model.tflite" in manifest.files
    assert latest_bundle(tmp_path) == second and first.exists()


def test_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    def broken(tmp: Path) -> tuple[dict, dict, list]:
        (tmp / "half.bin").write_bytes(b"x")
        raise RuntimeError("training diverged")

    with pytest.raises(RuntimeError):
        write_bundle(tmp_path, broken)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_file_is_refused_and_older_version_served(tmp_path: Path) -> None:
    good = write_bundle(tmp_path, _build)
    bad = write_bundle(tmp_path, _build)
    (bad / "edge" / "model.tflite").write_bytes(b"tampered")
    with pytest.raises(BundleError, match="corrupt"):
        load_manifest(bad)
    assert latest_bundle(tmp_path) == good


def test_truncated_manifest_and_missing_file(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, _build)
    (bundle / "edge" / "model.tflite").unlink()
    with pytest.raises(BundleError, match="missing"):
        load_manifest(bundle)
    (bundle / "manifest.json").write_text('{"version": "1", "crea')
    with pytest.raises(BundleError, match="corrupt manifest"):
        load_manifest(bundle)
    with pytest.raises(BundleError, match="no valid model bundle"):
        latest_bundle(tmp_path)
