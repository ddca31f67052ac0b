"""Versioned model bundles: a directory per version, with a manifest that pins every file's sha256.

Layout of a model repository (as in Triton and TF Serving: one numbered directory per version)::

    repository/
      1/  manifest.json  catalogue.json  edge/*.tflite  cloud/...
      2/  ...

A bundle is written into a hidden temporary directory and renamed into place only when complete, so
a failed run leaves nothing half-written, and readers never see a partial version. Loading verifies
every file against the manifest. This module needs only the standard library: the edge uses it too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
DEFAULT_REPOSITORY = Path("models")
"""Where bundles go and are looked for unless told otherwise (relative to the working directory)."""
FORMAT_VERSION = 1


class BundleError(RuntimeError):
    """A bundle is missing, incomplete, or does not match its manifest."""


@dataclass(frozen=True)
class Manifest:
    """What a bundle holds and how it was made."""

    version: str
    created: str
    files: dict[str, str]
    data: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        """Stable, human-readable JSON."""
        return json.dumps(self.__dict__, indent=2, sort_keys=True)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(bundle: Path, *, verify: bool = True) -> Manifest:
    """Read a bundle's manifest; with ``verify`` also check that every listed file matches its sha256."""
    path = Path(bundle) / MANIFEST
    try:
        raw = json.loads(path.read_text())
        manifest = Manifest(**raw)
    except FileNotFoundError as err:
        raise BundleError(f"{bundle}: not a model bundle (no {MANIFEST})") from err
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as err:
        raise BundleError(f"{path}: corrupt manifest ({err})") from err
    if not (isinstance(manifest.files, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in manifest.files.items())
            and isinstance(manifest.models, dict) and isinstance(manifest.data, dict) and isinstance(manifest.metrics, list)):
        raise BundleError(f"{path}: corrupt manifest (files must map names to sha256 strings; models and data are objects, metrics a list)")
    if manifest.format != FORMAT_VERSION:
        raise BundleError(f"{path}: bundle format {manifest.format} is not supported (expected {FORMAT_VERSION})")
    if verify:
        root = Path(bundle).resolve()
        for name, expected in manifest.files.items():
            file = Path(bundle) / name
            if not file.resolve().is_relative_to(root):
                raise BundleError(f"{bundle}: manifest lists {name!r}, outside the bundle")
            if not file.is_file():
                raise BundleError(f"{bundle}: file {name} listed in the manifest is missing")
            actual = sha256_file(file)
            if actual != expected:
                raise BundleError(f"{bundle}: file {name} is corrupt (sha256 {actual[:12]}… != manifest {expected[:12]}…)")
    return manifest


def versions(repository: Path) -> list[Path]:
    """Bundle directories of a repository, oldest first (numeric names only)."""
    repository = Path(repository)
    if not repository.is_dir():
        return []
    found = [p for p in repository.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(found, key=lambda p: int(p.name))


def latest_bundle(repository: Path) -> Path:
    """The newest bundle in a repository that passes verification."""
    problems = []
    for candidate in reversed(versions(repository)):
        try:
            load_manifest(candidate)
            return candidate
        except BundleError as err:
            problems.append(str(err))
    detail = f" ({'; '.join(problems)})" if problems else ""
    raise BundleError(f"no valid model bundle in {repository}{detail}; run `splitrank train` first")


def resolve_bundle(path: Path) -> Path:
    """A bundle directory itself, or the newest valid bundle of a repository."""
    path = Path(path)
    return path if (path / MANIFEST).is_file() else latest_bundle(path)


def write_bundle(repository: Path, build: Callable[[Path], tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]]) -> Path:
    """Create the next version of ``repository``.

    ``build(tmp_dir)`` writes the bundle's files and returns (data, models, metrics) for the
    manifest. Hashes are taken after it returns; the directory is renamed into place last.
    On any exception the temporary directory is removed and nothing is published.
    """
    repository = Path(repository)
    repository.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".incomplete-", dir=repository))
    try:
        data, models, metrics = build(tmp)
        files = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        existing = versions(repository)
        version = str(int(existing[-1].name) + 1 if existing else 1)
        manifest = Manifest(version=version, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            files=files, data=data, models=models, metrics=metrics)
        (tmp / MANIFEST).write_text(manifest.to_json())
        final = repository / version
        os.replace(tmp, final)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
