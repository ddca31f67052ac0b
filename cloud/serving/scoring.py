"""Scoring with one bundle version, loaded for serving: the split reranker and the teacher behind fixed-signature
``tf.function``s, so no batch shape ever retraces. Runs on the GPU when TensorFlow sees one."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from cloud.models.item_stats import ItemStats
from cloud.models.reranker import RerankerConfig, SplitReranker
from cloud.models.teacher import Teacher, TeacherConfig
from core.bundle import load_manifest
from core.codec import decode_rows

if TYPE_CHECKING:
    from cloud.serving.validation import RerankInput

log = logging.getLogger("splitrank.cloud")
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
"""Batches are padded up to one of these sizes, so kernels see a handful of shapes."""
PAD_SCORE = -1e4


def compute_device() -> str:
    """'GPU' when TensorFlow sees one, else 'CPU'."""
    return "GPU" if tf.config.list_physical_devices("GPU") else "CPU"


def bucket(size: int) -> int:
    """The smallest batch bucket that holds ``size`` rows."""
    return next((b for b in BATCH_BUCKETS if b >= size), size)


def _pad_rows(array: np.ndarray, rows: int, fill: float = 0.0) -> np.ndarray:
    if array.shape[0] == rows:
        return array
    pad = np.full((rows - array.shape[0], *array.shape[1:]), fill, array.dtype)
    return np.concatenate([array, pad])


class ServingModels:
    """The models of one bundle version. Thread-compatible: calls may come from a worker thread."""

    def __init__(self, bundle: Path, *, max_batch_size: int = BATCH_BUCKETS[-1]) -> None:
        manifest = load_manifest(bundle)
        self.version = Path(bundle).name  # the directory name is the version, as in Triton and TF Serving
        if manifest.version != self.version:
            log.warning("bundle %s says version %s; serving it as version %s", bundle, manifest.version, self.version)
        self.bundle = Path(bundle)
        student, teacher_cfg, reranker_cfg = manifest.models["student"], manifest.models["teacher"], manifest.models["reranker"]
        self.catalogue_size = int(student["n_items"])
        self.candidates = int(student["candidates"])
        self.embedding_dim = int(student["dim"])
        self.history_len = int(teacher_cfg["history_len"])
        self.context_dim = int(teacher_cfg["context_dim"])
        self.codes: list[str] = json.loads((bundle / "catalogue.json").read_text())["codes"]
        self.trend_start = datetime.fromisoformat(manifest.data["trend_start"]).replace(tzinfo=timezone.utc)
        with np.load(bundle / "cloud" / "trend.npz") as data:
            self.trend = data["trend"]
        self.edge_prior = np.load(bundle / "edge" / "prior.npy")  # what the edge model is fed until the fleet pushes a prior
        stats = ItemStats.load(bundle / "cloud" / "item_stats.npz")
        self.teacher = Teacher(TeacherConfig(**teacher_cfg), stats)
        self.reranker = SplitReranker(RerankerConfig(**reranker_cfg), stats)
        self._build_and_load(bundle)
        k, d, n, h, c = self.candidates, self.embedding_dim, self.catalogue_size, self.history_len, self.context_dim
        self._rerank = tf.function(lambda u, ids, edge, trend, prior: self.reranker(
            {"user_embedding": u, "candidate_ids": ids, "edge_scores": edge, "candidate_trend": trend, "candidate_prior": prior}),
            input_signature=[tf.TensorSpec([None, d]), tf.TensorSpec([None, k], tf.int32)] + [tf.TensorSpec([None, k])] * 3,
            jit_compile=True)  # XLA fuses the K x K co-purchase gather and the MLP into few kernels
        self._full = tf.function(lambda items, age, count, ctx, trend: self.teacher(
            {"hist_items": items, "hist_age": age, "hist_count": count, "context": ctx, "trend": trend}),
            input_signature=[tf.TensorSpec([None, h], tf.int32), tf.TensorSpec([None, h]), tf.TensorSpec([None, h]),
                             tf.TensorSpec([None, c]), tf.TensorSpec([None, n])])
        self.warm_up(max_batch_size)

    def _build_and_load(self, bundle: Path) -> None:
        k, d, h, c, n = self.candidates, self.embedding_dim, self.history_len, self.context_dim, self.catalogue_size
        self.reranker({"user_embedding": np.zeros((1, d), np.float32), "candidate_ids": np.ones((1, k), np.int32),
                       **{key: np.zeros((1, k), np.float32) for key in ("edge_scores", "candidate_trend", "candidate_prior")}})
        self.teacher({"hist_items": np.zeros((1, h), np.int32), "hist_age": np.zeros((1, h), np.float32),
                      "hist_count": np.zeros((1, h), np.float32), "context": np.zeros((1, c), np.float32),
                      "trend": np.zeros((1, n), np.float32)})
        self.reranker.load_weights(bundle / "cloud" / "reranker.weights.h5")
        self.teacher.load_weights(bundle / "cloud" / "teacher.weights.h5")

    def warm_up(self, max_batch_size: int = BATCH_BUCKETS[-1]) -> None:
        """Trace both functions (and compile the reranker for every batch bucket) before the first request,
        so no request pays a tracing or compilation cost."""
        for size in (b for b in BATCH_BUCKETS if b <= bucket(max_batch_size)):  # larger buckets never form
            self.rerank(np.zeros((size, self.embedding_dim), np.float32), np.ones((size, 1), np.int32), np.zeros((size, 1), np.float32),
                        np.zeros(size))
        self.rank_full(np.zeros((1, self.history_len), np.int32), np.zeros((1, self.history_len), np.float32),
                       np.zeros((1, self.history_len), np.float32), np.zeros((1, self.context_dim), np.float32), np.zeros(1))

    def day_index(self, unix_time_s: np.ndarray) -> np.ndarray:
        """Trend-table row per request time; 0 (or anything past the table) means the newest row."""
        days = (np.asarray(unix_time_s, np.float64) - self.trend_start.timestamp()) // 86400
        newest = self.trend.shape[0] - 1
        return np.where((np.asarray(unix_time_s) <= 0) | (days > newest), newest, np.clip(days, 0, newest)).astype(np.int64)

    def candidate_priors(self, prior_day_unix_s: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """The popularity prior [B, K] of each candidate as the device fed its edge model: the trend row of the pushed
        prior's day, or the edge release's prior where the request says 0."""
        days = np.asarray(prior_day_unix_s)
        pushed = self.trend[self.day_index(days)[:, None], ids]
        return np.where((days > 0)[:, None], pushed, self.edge_prior[ids])

    def rerank(self, user: np.ndarray, ids: np.ndarray, edge_scores: np.ndarray, unix_time_s: np.ndarray,
               prior_day_unix_s: np.ndarray | None = None) -> np.ndarray:
        """Scores [B, K'] for candidate ids [B, K'] (K' <= K; rows may be padded with id 0); ``prior_day_unix_s`` [B]
        names the prior each device's edge scores hold (0 or None: the edge release's)."""
        rows, width = ids.shape
        full_ids, edge = self._candidate_arrays(rows)
        full_ids[:rows, :width] = ids
        edge[:rows, :width] = np.where(ids > 0, edge_scores, PAD_SCORE)
        out = self._scores(user.astype(np.float32), full_ids, edge, unix_time_s, prior_day_unix_s)
        return np.where(ids > 0, out[:rows, :width], -np.inf)

    def rerank_calls(self, calls: Sequence[RerankInput]) -> list[list[float]]:
        """The serving path: the scores of each validated split call's candidates, in its candidate order, from one
        model call for the whole batch (its arrays built once, straight from the calls)."""
        full_ids, edge = self._candidate_arrays(len(calls))
        for row, call in enumerate(calls):
            full_ids[row, : len(call.ids)] = call.ids
            edge[row, : len(call.ids)] = call.edge_scores
        out = self._scores(decode_rows([call.user for call in calls]), full_ids, edge, [call.unix_time_s for call in calls],
                           [call.prior_day_unix_s for call in calls])
        return [row[: len(call.ids)] for row, call in zip(out[: len(calls)].tolist(), calls, strict=True)]

    def _candidate_arrays(self, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Empty candidate ids and edge scores for ``rows`` rows, padded to a batch bucket and to K candidates."""
        padded_rows = bucket(rows)
        return np.zeros((padded_rows, self.candidates), np.int32), np.full((padded_rows, self.candidates), PAD_SCORE, np.float32)

    def _scores(self, user: np.ndarray, full_ids: np.ndarray, edge: np.ndarray, unix_time_s: Sequence[int] | np.ndarray,
                prior_day_unix_s: Sequence[int] | np.ndarray | None) -> np.ndarray:
        """The reranker's scores [padded rows, K] for padded candidate arrays; ``user`` has the batch's own rows."""
        padded_rows = full_ids.shape[0]
        days = _pad_rows(self.day_index(np.asarray(unix_time_s)), padded_rows)
        trend = np.take_along_axis(self.trend[days], full_ids, 1)
        if prior_day_unix_s is None or not np.any(prior_day_unix_s):
            prior = self.edge_prior[full_ids]
        else:
            prior = self.candidate_priors(_pad_rows(np.asarray(prior_day_unix_s, np.int64), padded_rows), full_ids)
        return self._rerank(_pad_rows(user, padded_rows), full_ids, edge, trend, prior).numpy()

    def rank_full(self, items: np.ndarray, age: np.ndarray, count: np.ndarray, context: np.ndarray, unix_time_s: np.ndarray) -> np.ndarray:
        """Teacher logits [B, N] over the whole catalogue."""
        rows = items.shape[0]
        padded = bucket(rows)
        trend = self.trend[_pad_rows(self.day_index(unix_time_s), padded)]
        out = self._full(_pad_rows(items.astype(np.int32), padded), _pad_rows(age.astype(np.float32), padded),
                         _pad_rows(count.astype(np.float32), padded), _pad_rows(context.astype(np.float32), padded), trend)
        return out.numpy()[:rows]
