"""The model bundle as the device sees it: sha256-verified, the student's TFLite edge step, the
catalogue (item codes <-> ids) and the learned router's gain model. No TensorFlow."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.bundle import BundleError, load_manifest, resolve_bundle
from core.edge_step import EdgeResult, EdgeStep
from core.errors import InvalidRequest
from core.features import history_columns, request_context
from core.gain_model import GainModel
from core.prior import Prior
from edge.prior import bundle_prior

DEFAULT_VARIANT = "full_int8"


@dataclass(frozen=True)
class HistoryEntry:
    """One item of a customer's history: the item code, days since last bought, baskets that held it."""

    item_id: str
    age_days: float
    count: float


class EdgeModel:
    """One bundle version loaded on the device. Not thread-safe (one TFLite interpreter)."""

    def __init__(self, bundle: Path, *, variant: str = DEFAULT_VARIANT, threads: int = 1) -> None:
        bundle = resolve_bundle(bundle)
        manifest = load_manifest(bundle)  # verifies every file's sha256
        self.bundle = bundle
        self.version = bundle.name
        self.variant = variant
        model_file = bundle / "edge" / f"student_{variant}.tflite"
        if not model_file.is_file():
            raise BundleError(f"{bundle} has no {variant} edge model (has {manifest.models.get('edge_formats')})")
        self.step = EdgeStep(model_file, threads=threads)
        self.codes: list[str] = json.loads((bundle / "catalogue.json").read_text())["codes"]
        self.index = {code: i for i, code in enumerate(self.codes) if i > 0}
        router_file = bundle / "edge" / "router.json"
        self.gain_model = GainModel.load(router_file) if router_file.is_file() else None
        self.catalogue_size = len(self.codes) - 1
        self.release_unix_s = int(manifest.models.get("edge_release_unix_s", 0))
        """When the model's popularity prior was taken (0 when the bundle does not say)."""
        self.shipped_prior: Prior = bundle_prior(bundle, self.release_unix_s)
        """The prior of the release day: what the model is fed until the fleet pushes a fresher one."""
        self.history_len = self.step.history_len
        self.candidates = self.step.candidates
        self._fed: Prior | None = None
        """The prior the interpreter holds now (fed again only when another one comes)."""

    def encode_history(self, history: Sequence[HistoryEntry]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Padded (ids, age, count) arrays, most recent first; raises InvalidRequest naming the bad entry."""
        kept = history[: self.history_len]
        return self.encode_columns([e.item_id for e in kept], [e.age_days for e in kept], [e.count for e in kept])

    def encode_columns(self, item_ids: Sequence[str], ages: Sequence[float], counts: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``encode_history`` from parallel columns (item codes, days since bought, baskets): the hot path."""
        item_ids = item_ids[: self.history_len]
        indices = list(map(self.index.get, item_ids))
        if None in indices:
            slot = indices.index(None)
            raise InvalidRequest(f"history[{slot}].item_id {item_ids[slot]!r} is not in the catalogue of model version {self.version}")
        return history_columns(indices, item_ids, ages, counts, self.history_len)  # type: ignore[arg-type]  # no None left

    @staticmethod
    def context(unix_time_s: int, days_since_last_basket: float, previous_baskets: int, distinct_items: int) -> np.ndarray:
        """The context features of a request (time 0 = now); raises InvalidRequest for a bad value."""
        return request_context(unix_time_s, days_since_last_basket, previous_baskets, distinct_items)

    def run(self, items: np.ndarray, age: np.ndarray, count: np.ndarray, context: np.ndarray, prior: Prior) -> EdgeResult:
        """The edge step, fed ``prior``: u and the top-K candidates. A prior is copied into the interpreter once,
        not per request (Prior objects are immutable; a pushed prior is a new one)."""
        result = self.step.run(items, age, count, context, None if prior is self._fed else prior.values)
        self._fed = prior
        return result
