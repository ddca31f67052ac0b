"""Model storage on the device: verified bundles side by side, ``current`` and ``previous`` symlinks.

Installing unpacks into a hidden staging directory, verifies every file against the manifest, and
renames it into place; activating replaces the ``current`` symlink with ``os.replace`` (atomic). A
device killed at any moment therefore finds ``current`` pointing at a complete, verified bundle:
the old one or the new one, never half of either. Staging leftovers are removed at start.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from core.bundle import BundleError, load_manifest


class ModelSlots:
    """``root/versions/<version>/``, ``root/current`` and ``root/previous``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.versions = self.root / "versions"
        self.versions.mkdir(parents=True, exist_ok=True)
        for leftover in self.versions.glob(".staging-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def _link(self, name: str) -> Path | None:
        link = self.root / name
        return link.resolve() if link.is_symlink() and link.resolve().is_dir() else None

    @property
    def current(self) -> Path | None:
        """The bundle in service, or None before the first install."""
        return self._link("current")

    @property
    def previous(self) -> Path | None:
        """The bundle served before the current one (the rollback target)."""
        return self._link("previous")

    def has(self, version: str) -> bool:
        """Is this version installed?"""
        return (self.versions / version / "manifest.json").is_file()

    def install(self, archive: bytes, version: str) -> Path:
        """Unpack a (verified) release archive as ``version``; raises BundleError when its files do not match the manifest."""
        if not version.isdigit():
            raise BundleError(f"model version must be a number, got {version!r}")
        target = self.versions / version
        if target.exists():
            load_manifest(target)
            return target
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.versions))
        try:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
                tar.extractall(staging, filter="data")  # refuses absolute paths, .. and links out of the folder
            load_manifest(staging)
            os.replace(staging, target)
        except (tarfile.TarError, OSError, BundleError) as err:
            shutil.rmtree(staging, ignore_errors=True)
            raise BundleError(f"release archive for version {version} is unusable: {err}") from err
        return target

    def activate(self, version: str) -> Path:
        """Serve ``version`` from now on; the current one becomes ``previous``."""
        target = self.versions / version
        load_manifest(target)
        current = self.current
        if current is not None and current != target.resolve():
            self._point("previous", current)
        self._point("current", target)
        return target

    def _point(self, name: str, target: Path) -> None:
        temporary = self.root / f".{name}.{os.getpid()}"
        if temporary.is_symlink() or temporary.exists():
            temporary.unlink()
        temporary.symlink_to(target.resolve(), target_is_directory=True)
        os.replace(temporary, self.root / name)

    def rollback(self) -> Path:
        """Serve the previous bundle again (and forget it as a rollback target); raises BundleError when there is none."""
        previous = self.previous
        if previous is None:
            raise BundleError("no previous model to roll back to")
        self._point("current", previous)
        (self.root / "previous").unlink()  # never roll "back" onto the model that just failed
        return previous
