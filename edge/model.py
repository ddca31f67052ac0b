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
from core.features import history_arrays, request_context
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

    def encode_history(self, history: Sequence[HistoryEntry]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Padded (ids, age, count) arrays, most recent first; raises InvalidRequest naming the bad entry."""
        entries = []
        for slot, entry in enumerate(history[: self.history_len]):
            index = self.index.get(entry.item_id)
            if index is None:
                raise InvalidRequest(f"history[{slot}].item_id {entry.item_id!r} is not in the catalogue of model version {self.version}")
            entries.append((index, entry.item_id, entry.age_days, entry.count))
        return history_arrays(entries, self.history_len)

    @staticmethod
    def context(unix_time_s: int, days_since_last_basket: float, previous_baskets: int, distinct_items: int) -> np.ndarray:
        """The context features of a request (time 0 = now); raises InvalidRequest for a bad value."""
        return request_context(unix_time_s, days_since_last_basket, previous_baskets, distinct_items)

    def run(self, items: np.ndarray, age: np.ndarray, count: np.ndarray, context: np.ndarray, prior: Prior) -> EdgeResult:
        """The edge step, fed ``prior``: u and the top-K candidates."""
        return self.step.run(items, age, count, context, prior.values)
