"""``splitrank train``: data -> baselines -> teacher -> distilled student -> split reranker -> TFLite
exports -> evaluation -> a verified, versioned bundle. One function runs it all."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cloud.data.cleaning import check_trainable, clean_interactions
from cloud.data.examples import Dataset, Examples, SplitDates, build_dataset
from cloud.data.loader import ColumnMap, load_interactions_csv, load_online_retail
from cloud.evaluation import RankingMetrics, candidate_recall, evaluate, metrics_from_rankings, per_example_metrics, rows_per_batch, top_k
from cloud.models.baselines import ItemKnn, PersonalFrequency, Popularity
from cloud.models.item_stats import ItemStats
from cloud.models.layers import basket_softmax_loss
from cloud.models.reranker import RerankerConfig, SplitReranker
from cloud.models.student import Student, StudentConfig
from cloud.models.teacher import Teacher, TeacherConfig
from cloud.training.batches import Batch, ColumnSampler, TrainingBatches, model_inputs
from cloud.training.blend import fit_blend
from cloud.training.export import FORMATS, MaskHolder, convert, edge_inputs, prune_weights
from cloud.training.fitting import FitResult, Progress, fit_with_early_stopping
from cloud.training.settings import TrainSettings
from core.bundle import write_bundle
from core.features import CONTEXT_FEATURES
from core.gain_model import GainModel, fit_gain_model, router_features

RELEASE_AGE_DAYS = 70
"""Oldest edge release the split reranker is trained against (the Online Retail test period spans 70 days)."""
FRESH_SHARE = 0.5
"""Share of the split reranker's training (and validation) requests whose device holds the prior of the request's
day, as the daily freshness push gives it; the others hold one 0 to ``RELEASE_AGE_DAYS`` days old (pushes missed,
or none). With stale priors only, the reranker learned to distrust edge scores that a fresh prior makes right."""
PERSONAL_HALF_LIVES = (15.0, 30.0, 60.0, 120.0, 365.0)
"""Recency half-lives tried for the personal-frequency baseline; the best on validation is reported."""
DAILY_PUSH = "daily push"
"""``prior`` of the edge and split rows as the product serves them: the device holds the popularity prior of the
request's day (the trailing window before it, the same trend the teacher sees), as the fleet's freshness push delivers."""
RELEASE_DAY = "release day"
"""``prior`` of the edge and split rows of a device that never gets a push: the prior shipped in the bundle, from the
day the test period starts."""


def load_dataset(settings: TrainSettings) -> tuple[Dataset, dict[str, Any]]:
    """Load, clean and split the configured data; returns the dataset and what cleaning did."""
    if settings.own_csv:
        if settings.data is None:
            raise ValueError("a CSV of your own needs its path (--data)")
        columns = ColumnMap(settings.user_col, settings.item_col, settings.time_col,  # type: ignore[arg-type]  # TrainSettings checks all three
                            settings.basket_col, settings.quantity_col, settings.price_col, settings.rating_col, settings.time_format)
        raw = load_interactions_csv(settings.data, columns)
        cleaned, report = clean_interactions(raw, product_codes_only=False, min_rating=settings.min_rating)
        split = SplitDates.by_fractions(cleaned["time"])
    else:
        raw = load_online_retail(settings.data)
        cleaned, report = clean_interactions(raw)
        split = SplitDates.online_retail()
    check_trainable(cleaned)
    dataset = build_dataset(cleaned, split, history_len=settings.history_len)
    if settings.max_examples:
        dataset = _subsample(dataset, settings.max_examples, settings.seed)
    if settings.eval_examples:
        dataset = _subsample(dataset, settings.eval_examples, settings.seed, splits=("validation", "test"))
    info = {"source": raw.attrs.get("source", ""), "fingerprint": dataset.fingerprint, "rows_in": report.rows_in,
            "rows_out": report.rows_out, "dropped": report.dropped, "validation_start": split.validation_start.isoformat(),
            "test_start": split.test_start.isoformat(), "examples": {k: len(v) for k, v in dataset.splits().items()},
            "catalogue_size": dataset.catalogue.size, "history_len": dataset.history_len,
            "context_features": list(CONTEXT_FEATURES), "trend_start": dataset.start.isoformat()}
    return dataset, info


def _subsample(dataset: Dataset, limit: int, seed: int, splits: tuple[str, ...] = ("train", "validation", "test")) -> Dataset:
    rng = np.random.default_rng(seed)
    pick = {name: np.sort(rng.choice(len(ex), size=min(limit, len(ex)), replace=False)) if name in splits else np.arange(len(ex))
            for name, ex in dataset.splits().items()}
    return Dataset(dataset.catalogue, dataset.train.take(pick["train"]), dataset.validation.take(pick["validation"]),
                   dataset.test.take(pick["test"]), dataset.trend, dataset.start, dataset.split, dataset.history_len,
                   dataset.fingerprint + f"/sample{limit}")


def predict_in_batches(model: keras.Model, inputs: dict[str, np.ndarray], batch_size: int = 512) -> Any:
    """Model outputs over many rows without one huge batch."""
    n = len(next(iter(inputs.values())))
    parts = [model.predict_on_batch({k: v[lo : lo + batch_size] for k, v in inputs.items()}) for lo in range(0, n, batch_size)]
    if isinstance(parts[0], tuple | list):
        return tuple(np.concatenate([np.asarray(p[i]) for p in parts]) for i in range(len(parts[0])))
    return np.concatenate([np.asarray(p) for p in parts])


@dataclass
class _Trained:
    teacher: Teacher
    student: Student
    reranker: SplitReranker
    stats: ItemStats
    metrics: list[dict[str, Any]]
    tflite: dict[str, bytes]
    extra: dict[str, Any]
    router: GainModel
    release_prior: np.ndarray


def run_training(settings: TrainSettings, progress: Progress | None = None) -> Path:
    """Run the whole pipeline and publish the bundle; returns its directory."""
    keras.utils.set_random_seed(settings.seed)
    _notify(progress, "data", 0, 1)
    dataset, data_info = load_dataset(settings)
    _notify(progress, "data", 1, 1)
    trained = _train_models(dataset, settings, progress)

    def build(tmp: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        (tmp / "edge").mkdir()
        (tmp / "cloud").mkdir()
        for fmt, blob in trained.tflite.items():
            (tmp / "edge" / f"student_{fmt}.tflite").write_bytes(blob)
        catalogue = {"codes": list(dataset.catalogue.codes), "descriptions": list(dataset.catalogue.descriptions)}
        (tmp / "catalogue.json").write_text(json.dumps(catalogue))
        trained.teacher.save_weights(tmp / "cloud" / "teacher.weights.h5")
        trained.student.save_weights(tmp / "cloud" / "student.weights.h5")
        trained.reranker.save_weights(tmp / "cloud" / "reranker.weights.h5")
        trained.stats.save(tmp / "cloud" / "item_stats.npz")
        trained.router.save(tmp / "edge" / "router.json")
        np.savez_compressed(tmp / "cloud" / "trend.npz", trend=dataset.trend)
        np.save(tmp / "edge" / "prior.npy", trained.release_prior)  # the prior a device feeds its model until the fleet pushes one
        released = dataset.start.timestamp() + 86400 * int(dataset.test.day.min())
        models = {"teacher": trained.teacher.config.as_dict(), "student": trained.student.config.as_dict(), "edge_release_unix_s": int(released),
                  "reranker": trained.reranker.config.as_dict(), "edge_formats": list(trained.tflite), **trained.extra}
        return data_info, models, trained.metrics

    return write_bundle(settings.repository, build)


def _notify(progress: Progress | None, stage: str, done: int, total: int, figures: dict[str, float] | None = None) -> None:
    if progress:
        progress(stage, done, total, figures or {})


def _row(name: str, fmt: str, metrics: RankingMetrics, size: int | None, latency_us: float | None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "format": fmt, "size_bytes": size, "ndcg_at_10": metrics.ndcg_at_10, "recall_at_20": metrics.recall_at_20,
            "hit_rate_at_10": metrics.hit_rate_at_10, "latency_p50_us": latency_us, **extra}


def _train_models(dataset: Dataset, settings: TrainSettings, progress: Progress | None) -> _Trained:
    n = dataset.catalogue.size
    train, validation, test = dataset.train, dataset.validation, dataset.test
    metrics: list[dict[str, Any]] = []
    baseline_scores = {}
    stats = ItemStats.from_dataset(dataset)
    half_life = max(PERSONAL_HALF_LIVES, key=lambda h: evaluate(PersonalFrequency(dataset, h), validation).ndcg_at_10)
    for baseline in (Popularity(dataset), PersonalFrequency(dataset, half_life), ItemKnn(dataset, stats)):
        _notify(progress, "baselines", len(baseline_scores), 3)
        result = evaluate(baseline, test)
        baseline_scores[baseline.name] = result.ndcg_at_10
        metrics.append(_row(baseline.name, "numpy", result, None, None, role="baseline"))
    _notify(progress, "baselines", 3, 3)
    sampler = ColumnSampler(n, settings.sampled_negatives) if n > settings.full_softmax_max_items else None

    teacher, teacher_fit, blend = _fit_teacher(dataset, stats, sampler, settings, progress)

    def teacher_scorer(ex: Examples, rows: np.ndarray) -> np.ndarray:
        return np.asarray(teacher.predict_on_batch(model_inputs(dataset, ex, rows)))

    teacher_test = evaluate(teacher_scorer, test)
    metrics.append(_row("teacher", "keras", teacher_test, None, _keras_latency_us(teacher, dataset, settings),
                        role="cloud", best_epoch=teacher_fit.best_epoch, start_validation_ndcg_at_10=teacher_fit.history[0]["validation"]))

    student = Student(StudentConfig(n, history_len=dataset.history_len))
    student.repeat.start_at(blend["repeat_bonus"], blend["count_weight"], blend["recency_half_life_days"])
    student.prior_weight.assign(blend["trend_weight"])
    student.compile(optimizer=keras.optimizers.Adam(settings.student_learning_rate), loss=[basket_softmax_loss, None])
    distilled = _distillation_batches(dataset, teacher, sampler, settings)

    def student_scorer(ex: Examples, rows: np.ndarray) -> np.ndarray:
        return np.asarray(student.predict_on_batch(model_inputs(dataset, ex, rows))[0])

    fit_with_early_stopping("student", student, distilled, lambda: evaluate(student_scorer, validation).ndcg_at_10,
                            epochs=settings.student_epochs, progress=progress)

    # The shipped edge model comes with the popularity prior of its release day. Evaluated on the test
    # split, it is released the day the test period starts: no test-period data reaches it.
    release_day = int(dataset.test.day.min())
    release_prior = dataset.trend[release_day]
    prior_days = {DAILY_PUSH: test.day, RELEASE_DAY: np.full(len(test), release_day, np.int32)}
    reranker, split_tests, validation_candidates = _fit_reranker(dataset, student, prior_days, teacher, stats, settings, progress)
    router = _fit_router(dataset, validation_candidates, reranker, teacher_scorer)

    tflite: dict[str, bytes] = {}
    for i, fmt in enumerate(f for f in FORMATS if f != "pruned_int8"):
        _notify(progress, "export", i, len(FORMATS))
        tflite[fmt] = convert(student, fmt, train, dataset.trend)
    dense_weights = student.get_weights()
    masks = prune_weights(student, settings.prune_sparsity)
    student.fit(distilled, epochs=1, verbose=0, callbacks=[MaskHolder(student, masks)])
    tflite["pruned_int8"] = convert(student, "dynamic_int8")
    student.set_weights(dense_weights)
    _notify(progress, "export", len(FORMATS), len(FORMATS))

    # The rows as the product serves them (daily push) come first; those of a device without pushes follow.
    done, total = 0, len(tflite) * len(prior_days)
    for prior_name, days in prior_days.items():
        for fmt, blob in tflite.items():
            _notify(progress, "evaluate", done, total)
            done += 1
            result, latency, recalls = _evaluate_tflite(blob, test, dataset.trend, days)
            metrics.append(_row("student", fmt, result, len(blob), latency, role="edge", prior=prior_name,
                                candidates=student.config.candidates, **recalls))
        split_test, recall_k = split_tests[prior_name]
        metrics.append(_row("split", "keras", split_test, None, None, role="split", prior=prior_name, candidate_recall_at_k=recall_k))
    _notify(progress, "evaluate", total, total)
    extra = {"baseline_ndcg_at_10": baseline_scores, "personal_frequency_half_life_days": half_life,
             "prune_sparsity": settings.prune_sparsity, "softmax": "sampled" if sampler else "full"}
    return _Trained(teacher, student, reranker, stats, metrics, tflite, extra, router, release_prior)


def _fit_teacher(dataset: Dataset, stats: ItemStats, sampler: ColumnSampler | None, settings: TrainSettings,
                 progress: Progress | None) -> tuple[Teacher, FitResult, dict[str, float]]:
    """The teacher, started from the blend that fits this log's validation split, trained on multi-hot basket labels."""
    _notify(progress, "blend", 0, 1)
    blend, blend_score = fit_blend(dataset, stats, seed=settings.seed)
    _notify(progress, "blend", 1, 1, {"validation": blend_score})
    n = dataset.catalogue.size
    teacher = Teacher(TeacherConfig(n, history_len=dataset.history_len, **blend), stats)
    teacher.compile(optimizer=keras.optimizers.Adam(settings.teacher_learning_rate), loss=basket_softmax_loss)
    train, validation = dataset.train, dataset.validation

    def batch(rows: np.ndarray, columns: np.ndarray | None) -> Batch:
        return model_inputs(dataset, train, rows, columns), train.label_matrix(rows, n, columns)

    def scorer(ex: Examples, rows: np.ndarray) -> np.ndarray:
        return np.asarray(teacher.predict_on_batch(model_inputs(dataset, ex, rows)))

    batches = TrainingBatches(train, batch, batch_size=settings.batch_size, sampler=sampler, seed=settings.seed)
    fit = fit_with_early_stopping("teacher", teacher, batches, lambda: evaluate(scorer, validation).ndcg_at_10,
                                  epochs=settings.teacher_epochs, progress=progress)
    return teacher, fit, blend


def _distillation_batches(dataset: Dataset, teacher: Teacher, sampler: ColumnSampler | None, settings: TrainSettings) -> TrainingBatches:
    """Student batches: basket labels mixed with the teacher's softmax, computed batch by batch."""
    train, n, w = dataset.train, dataset.catalogue.size, settings.distill_weight
    teacher_logits = tf.function(lambda inputs: teacher(inputs), reduce_retracing=True)

    def batch(rows: np.ndarray, columns: np.ndarray | None) -> Batch:
        inputs = model_inputs(dataset, train, rows, columns)
        labels = train.label_matrix(rows, n, columns)
        probs = tf.nn.softmax(teacher_logits(inputs)).numpy()
        return inputs, (1 - w) * labels / np.maximum(labels.sum(1, keepdims=True), 1) + w * probs

    return TrainingBatches(train, batch, batch_size=settings.batch_size, sampler=sampler, seed=settings.seed + 1)


def _fit_reranker(dataset: Dataset, student: Student, test_prior_days: dict[str, np.ndarray], teacher: Teacher, stats: ItemStats,
                  settings: TrainSettings, progress: Progress | None
                  ) -> tuple[SplitReranker, dict[str, tuple[RankingMetrics, float]], dict[str, np.ndarray]]:
    """The split reranker, trained on candidates of edge models of varying age; with it, per entry of
    ``test_prior_days`` (the day of the prior each test request's device holds), the test metrics and candidate
    recall, and the validation candidates the router learns from."""
    k = student.config.candidates
    rng = np.random.default_rng(settings.seed)
    chunk_rows = rows_per_batch(dataset.catalogue.size)
    teacher_logits = tf.function(lambda inputs: teacher(inputs), reduce_retracing=True)

    def candidates(ex: Examples, prior_days: np.ndarray | None = None, with_teacher: bool = False) -> dict[str, np.ndarray]:
        # Devices hold priors of varying age, so training candidates (prior_days None) use the prior of the
        # basket's day for FRESH_SHARE of the rows and one from 0 to RELEASE_AGE_DAYS days before it for the
        # others; the reranker learns to correct a stale prior with the cloud's live trend. Test candidates come from the shipped model fed the prior of prior_days.
        # Computed in chunks: only [chunk, catalogue] is ever dense.
        parts: dict[str, list[np.ndarray]] = {}
        for lo in range(0, len(ex), chunk_rows):
            rows = np.arange(lo, min(lo + chunk_rows, len(ex)))
            if prior_days is None:
                age_days = np.where(rng.random(len(rows)) < FRESH_SHARE, 0, rng.integers(0, RELEASE_AGE_DAYS + 1, size=len(rows)))
                released = np.maximum(ex.day[rows] - age_days, 0)
            else:
                released = prior_days[rows]
            prior = dataset.trend[released]
            logits, user = student.predict_on_batch({**edge_inputs(ex, rows), "trend": prior})
            age = (ex.day[rows] - released).astype(np.float32)
            logits = np.asarray(logits)
            # the k best items 1..N-1 as the edge step picks them (tf.math.top_k: 2x faster than a numpy
            # argpartition at 100k items, where this selection was the largest fixed cost of training)
            ids = tf.math.top_k(logits[:, 1:], k).indices.numpy().astype(np.int32) + 1
            chunk = {"user_embedding": np.asarray(user), "candidate_ids": ids, "edge_scores": np.take_along_axis(logits, ids, 1),
                     "candidate_trend": np.take_along_axis(dataset.trend[ex.day[rows]], ids, 1),
                     "candidate_prior": np.take_along_axis(prior, ids, 1), "model_age_days": age}
            if with_teacher:
                chunk["teacher_logits"] = np.take_along_axis(np.asarray(teacher_logits(model_inputs(dataset, ex, rows))), ids, 1)
            for key, value in chunk.items():
                parts.setdefault(key, []).append(value)
        return {key: np.concatenate(values) for key, values in parts.items()}

    train = dataset.train
    if len(train) > settings.reranker_examples:
        train = train.take(np.sort(rng.choice(len(train), size=settings.reranker_examples, replace=False)))
    train_in, val_in = candidates(train, with_teacher=True), candidates(dataset.validation)
    del train_in["model_age_days"]  # the router's feature, not the reranker's
    val_age = val_in.pop("model_age_days")
    teacher_probs = tf.nn.softmax(train_in.pop("teacher_logits")).numpy()
    labels = np.stack([np.isin(train_in["candidate_ids"][i], train.labels(i)) for i in range(len(train))]).astype(np.float32)
    soft = (1 - settings.distill_weight) * labels / np.maximum(labels.sum(1, keepdims=True), 1) + settings.distill_weight * teacher_probs
    reranker = SplitReranker(RerankerConfig(dataset.catalogue.size, user_dim=student.config.dim), stats)
    reranker.compile(optimizer=keras.optimizers.Adam(3e-3), loss=basket_softmax_loss)

    def split_metrics(ex: Examples, feats: dict[str, np.ndarray]) -> RankingMetrics:
        scores = np.asarray(predict_in_batches(reranker, feats))
        order = np.argsort(-scores, axis=1, kind="stable")
        return metrics_from_rankings(ex, np.take_along_axis(feats["candidate_ids"], order, 1))

    def batch(rows: np.ndarray, columns: np.ndarray | None) -> Batch:
        return {key: value[rows] for key, value in train_in.items()}, soft[rows]

    batches = TrainingBatches(train, batch, batch_size=settings.batch_size, sampler=None, seed=settings.seed + 2)
    fit_with_early_stopping("reranker", reranker, batches, lambda: split_metrics(dataset.validation, val_in).ndcg_at_10,
                            epochs=settings.reranker_epochs, progress=progress)
    tests = {}
    for name, days in test_prior_days.items():
        test_in = candidates(dataset.test, days)
        del test_in["model_age_days"]
        tests[name] = split_metrics(dataset.test, test_in), candidate_recall(test_in["candidate_ids"], dataset.test)
    return reranker, tests, {**val_in, "model_age_days": val_age}


def _fit_router(dataset: Dataset, candidates: dict[str, np.ndarray], reranker: SplitReranker,
                teacher_scorer: Callable[[Examples, np.ndarray], np.ndarray]) -> GainModel:
    """The learned router's gain model, from the validation split: per request, the NDCG@10 of the
    split and cloud routes minus that of the edge's own top 10, against features of the edge step."""
    ex, rows = dataset.validation, np.arange(len(dataset.validation))
    ids = candidates["candidate_ids"]
    inputs = {k: v for k, v in candidates.items() if k != "model_age_days"}
    reranked = np.take_along_axis(ids, np.argsort(-np.asarray(predict_in_batches(reranker, inputs)), axis=1, kind="stable"), 1)
    step = rows_per_batch(dataset.catalogue.size)
    cloud = np.concatenate([top_k(teacher_scorer(ex, rows[lo : lo + step]), 20) for lo in range(0, len(ex), step)])
    local_ndcg = per_example_metrics(ex, ids)["ndcg_at_10"]
    gains = {"split": per_example_metrics(ex, reranked)["ndcg_at_10"] - local_ndcg,
             "cloud": per_example_metrics(ex, cloud)["ndcg_at_10"] - local_ndcg}
    features = router_features(ids, candidates["edge_scores"], ex.hist_items, ex.context, candidates["model_age_days"])
    return fit_gain_model(features, gains)


def _evaluate_tflite(blob: bytes, test: Examples, trend: np.ndarray, prior_days: np.ndarray) -> tuple[RankingMetrics, float, dict[str, float]]:
    """The edge step on every test request, its device holding the prior ``trend[prior_days[request]]``."""
    from core.edge_step import EdgeStep

    step = EdgeStep(blob, threads=1)
    rankings, candidates, times = [], [], []
    for i in range(len(test)):
        start = time.perf_counter_ns()
        result = step.run(test.hist_items[i], test.hist_age[i], test.hist_count[i], test.context[i], trend[prior_days[i]])
        times.append(time.perf_counter_ns() - start)
        rankings.append(result.candidate_ids[:20])
        candidates.append(result.candidate_ids)
    metrics = metrics_from_rankings(test, np.stack(rankings))
    recalls = {"candidate_recall_at_k": candidate_recall(np.stack(candidates), test),
               "candidate_repeat_recall_at_k": candidate_recall(np.stack(candidates), test, repeats_only=True)}
    return metrics, float(np.median(times) / 1000.0), recalls


def _keras_latency_us(model: keras.Model, dataset: Dataset, settings: TrainSettings) -> float:
    """The model called eagerly at batch 1 on the first test examples: median microseconds."""
    times = []
    for i in range(min(settings.teacher_latency_samples, len(dataset.test))):
        one = model_inputs(dataset, dataset.test, np.array([i]))
        start = time.perf_counter_ns()
        model(one)
        times.append(time.perf_counter_ns() - start)
    return float(np.median(times) / 1000.0)
