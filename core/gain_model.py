"""The learned router's model: what the device knows after its edge step -> the NDCG@10 gain a cloud
route is expected to add over the local answer. numpy only: it runs on the device.

Features come from the edge step's own output (how sure the student is: score margins, the entropy of
its top 10, how much of it is repeat purchases), the request context and the age of the model. A ridge regression per cloud
route (``split``, ``cloud``), fitted offline on the validation split (``cloud/training/router.py``) and
shipped in the bundle as ``edge/router.json``, with the quantiles of its predictions there, so a
target cloud-call fraction maps to a starting threshold.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROUTER_FEATURES = ("margin_1_2", "margin_1_10", "entropy_top10", "repeat_share_top10", "repeat_share_candidates", "top1_score",
                   "weekday", "hour", "log_days_since_last", "log_baskets", "log_distinct", "model_age_days")
ROUTES = ("split", "cloud")


def router_features(candidate_ids: np.ndarray, candidate_scores: np.ndarray, hist_items: np.ndarray, context: np.ndarray,
                    model_age_days: np.ndarray | float) -> np.ndarray:
    """float32 [B, len(ROUTER_FEATURES)] from edge outputs [B, K], histories [B, L], contexts [B, C] and the
    age of the edge model's popularity prior in days [B] (1-D inputs are one request). An older prior
    leaves more for the cloud's live trend to fix."""
    ids, scores = np.atleast_2d(candidate_ids), np.atleast_2d(candidate_scores).astype(np.float64)
    hist, ctx = np.atleast_2d(hist_items), np.atleast_2d(context).astype(np.float64)
    top = scores[:, :10]
    shifted = np.exp(top - top[:, :1])
    probs = shifted / shifted.sum(1, keepdims=True)
    entropy = -(probs * np.log(np.maximum(probs, 1e-12))).sum(1) / np.log(top.shape[1])
    repeats = (ids[:, :, None] == np.where(hist > 0, hist, -1)[:, None, :]).any(-1)
    columns = [scores[:, 0] - scores[:, 1], scores[:, 0] - scores[:, min(9, scores.shape[1] - 1)], entropy, repeats[:, :10].mean(1),
               repeats.mean(1), scores[:, 0], *ctx.T, np.broadcast_to(np.asarray(model_age_days, np.float64), (len(ids),))]
    return np.stack(columns, 1).astype(np.float32)


@dataclass(frozen=True)
class GainModel:
    """Ridge regressions from standardized router features to the NDCG@10 gain of each cloud route."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: dict[str, tuple[float, ...]]  # route -> one weight per feature, then the intercept
    quantiles: dict[str, tuple[float, ...]]  # route -> predicted gain at quantiles 0, 0.01, ..., 1 on validation

    def predict(self, features: np.ndarray, route: str = "split") -> np.ndarray:
        """Expected gain [B] of ``route`` over the local answer."""
        x = (np.atleast_2d(features) - np.asarray(self.mean)) / np.asarray(self.scale)
        w = np.asarray(self.weights[route])
        return np.asarray(x @ w[:-1] + w[-1], np.float64)

    def threshold_for(self, fraction: float, route: str = "split") -> float:
        """The predicted gain above which about ``fraction`` of validation requests lie."""
        q = np.asarray(self.quantiles[route])
        return float(np.interp(1.0 - min(max(fraction, 0.0), 1.0), np.linspace(0, 1, len(q)), q))

    def save(self, path: Path) -> None:
        """As JSON (the bundle's ``edge/router.json``)."""
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> GainModel:
        """Read a saved model; raises ValueError when it does not fit this code's features."""
        raw = json.loads(Path(path).read_text())
        model = cls(tuple(raw["features"]), tuple(raw["mean"]), tuple(raw["scale"]),
                    {k: tuple(v) for k, v in raw["weights"].items()}, {k: tuple(v) for k, v in raw["quantiles"].items()})
        if model.features != ROUTER_FEATURES:
            raise ValueError(f"{path}: router model features {list(model.features)} differ from this agent's {list(ROUTER_FEATURES)}")
        return model


def fit_gain_model(features: np.ndarray, gains: dict[str, np.ndarray], *, l2: float = 1.0) -> GainModel:
    """Least squares with an L2 penalty on standardized features, one regression per route."""
    mean = features.mean(0)
    scale = np.where(features.std(0) > 1e-9, features.std(0), 1.0)
    x = np.hstack([(features - mean) / scale, np.ones((len(features), 1))])
    penalty = l2 * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0
    weights, quantiles = {}, {}
    for route, y in gains.items():
        keep = np.isfinite(y)
        w = np.linalg.solve(x[keep].T @ x[keep] + penalty, x[keep].T @ y[keep])
        weights[route] = tuple(float(v) for v in w)
        quantiles[route] = tuple(float(v) for v in np.quantile(x @ w, np.linspace(0, 1, 101)))
    return GainModel(ROUTER_FEATURES, tuple(float(v) for v in mean), tuple(float(v) for v in scale), weights, quantiles)
