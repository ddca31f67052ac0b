"""The model repository as the server sees it: the newest valid version serves, a request may pin
an older one that is still loaded, new versions are loaded in the background and swapped in without
dropping a request, and a corrupt bundle is refused while the current version keeps serving."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from cloud.serving.gc_freeze import freeze_loaded
from cloud.serving.scoring import ServingModels
from core.bundle import BundleError, load_manifest, versions

log = logging.getLogger("splitrank.cloud")


class UnknownVersion(KeyError):
    """A request pinned a version this server does not have loaded."""


class ModelRepository:
    """Loaded versions, newest last; ``keep`` bounds how many stay in memory for pinned requests."""

    def __init__(self, root: Path, *, keep: int = 2, loader: Callable[[Path], ServingModels] = ServingModels) -> None:
        self.root = Path(root)
        self.keep = keep
        self._loader = loader
        self._loaded: OrderedDict[str, ServingModels] = OrderedDict()
        self._refused: dict[str, tuple[tuple[tuple[str, int, int], ...], str]] = {}
        self.on_change: Callable[[str], None] = lambda version: None

    @property
    def current(self) -> ServingModels:
        """The newest loaded version."""
        if not self._loaded:
            raise UnknownVersion("no model version is loaded yet")
        return next(reversed(self._loaded.values()))

    @property
    def refused(self) -> dict[str, str]:
        """Versions that failed verification or loading, with the reason."""
        return {version: reason for version, (_, reason) in self._refused.items()}

    @property
    def loaded_versions(self) -> list[str]:
        """Versions in memory, oldest first."""
        return list(self._loaded)

    def get(self, version: str = "") -> ServingModels:
        """The pinned ``version`` if loaded, else the newest for an empty pin."""
        if not version:
            return self.current
        try:
            return self._loaded[version]
        except KeyError:
            raise UnknownVersion(f"model version {version!r} is not loaded (loaded: {list(self._loaded)})") from None

    def refresh(self) -> str | None:
        """Load the newest valid version if it is newer than the current one; returns it, or None.

        Blocking (models load and warm up here): call it from a worker thread while serving.
        """
        newest_loaded = int(next(reversed(self._loaded))) if self._loaded else 0
        for bundle in reversed(versions(self.root)):
            if int(bundle.name) <= newest_loaded:
                return None
            signature = _signature(bundle)
            if self._refused.get(bundle.name, ((), ""))[0] == signature:
                continue  # refused before and unchanged since; a bundle still being copied in is retried
            try:
                models = self._load(bundle)
            except (BundleError, OSError, ValueError, KeyError) as err:
                self._refused[bundle.name] = (signature, str(err))
                log.error("refused model version %s: %s", bundle.name, err)
                continue
            return models.version
        return None

    def load(self, version: str) -> ServingModels:
        """Load one named version (blocking) unless it is loaded; it joins the loaded ones by version order."""
        if version in self._loaded:
            return self._loaded[version]
        bundle = self.root / version
        if not bundle.is_dir():
            raise UnknownVersion(f"model version {version!r} is not in {self.root}")
        return self._load(bundle)

    def _load(self, bundle: Path) -> ServingModels:
        load_manifest(bundle)
        models = self._loader(bundle)
        self._loaded[models.version] = models
        self._loaded = OrderedDict(sorted(self._loaded.items(), key=lambda item: int(item[0])))
        while len(self._loaded) > self.keep:
            self._loaded.popitem(last=False)
        log.info("serving model version %s (loaded: %s)", models.version, list(self._loaded))
        freeze_loaded()  # full collections skip what was loaded (a 200 ms pause each, under load, otherwise)
        self.on_change(models.version)
        return models

    async def watch(self, interval_s: float) -> None:
        """Poll for new versions forever, loading them off the event loop."""
        while True:
            await asyncio.sleep(interval_s)
            await asyncio.to_thread(self.refresh)


def _signature(bundle: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of a bundle's files: changes when anything is rewritten."""
    return tuple(sorted((str(p.relative_to(bundle)), p.stat().st_size, p.stat().st_mtime_ns) for p in bundle.rglob("*") if p.is_file()))
