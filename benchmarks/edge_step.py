"""The edge step: TFLite interpreter (one thread, as on a device) against the same student Keras
model called eagerly, per request, on real test-split histories. Run: ``splitrank bench edge-step``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from core.bundle import load_manifest


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    values = np.asarray(samples_ns) / 1000.0
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def run_edge_step_benchmark(bundle: Path, *, requests: int = 2000, fmt: str = "full_int8") -> dict[str, Any]:
    """Time both engines on the same inputs, interleaved in one run; returns p50/p99 and the ratio."""

    from cloud.models.student import Student, StudentConfig, edge_model
    from core.edge_step import PRIOR_INPUT, EdgeStep

    manifest = load_manifest(bundle)
    config = StudentConfig(**manifest.models["student"])
    student = Student(config)
    rng = np.random.default_rng(0)
    hist = rng.integers(1, config.n_items, size=(requests, config.history_len)).astype(np.int32)
    hist[:, rng.integers(1, config.history_len) :] = 0
    inputs = {"hist_items": hist, "hist_age": rng.exponential(60, hist.shape).astype(np.float32),
              "hist_count": rng.integers(1, 5, hist.shape).astype(np.float32),
              "context": rng.random((requests, config.context_dim)).astype(np.float32)}
    prior = np.load(bundle / "edge" / "prior.npy").astype(np.float32)[None, :]  # the release day's, as a device starts with
    student({**{k: v[:1] for k, v in inputs.items()}, "trend": prior})
    student.load_weights(bundle / "cloud" / "student.weights.h5")
    eager = edge_model(student)
    step = EdgeStep(bundle / "edge" / f"student_{fmt}.tflite", threads=1)
    tflite_ns, keras_ns = [], []
    keras_every = max(1, requests // 200)  # eager calls are slow: time every n-th request
    for i in range(requests):
        one = {k: v[i] for k, v in inputs.items()}
        start = time.perf_counter_ns()
        step.run(one["hist_items"], one["hist_age"], one["hist_count"], one["context"], prior)
        tflite_ns.append(time.perf_counter_ns() - start)
        if i % keras_every == 0:
            batch = {**{k: v[i : i + 1] for k, v in inputs.items()}, PRIOR_INPUT: prior}
            start = time.perf_counter_ns()
            eager(batch)
            keras_ns.append(time.perf_counter_ns() - start)
    t50, t99 = _percentiles(tflite_ns[len(tflite_ns) // 10 :])
    k50, k99 = _percentiles(keras_ns[2:])
    idle50, _ = _percentiles(after_idle(step, inputs, prior, min(requests, IDLE_REQUESTS)))
    return {"bundle": str(bundle), "format": fmt, "runtime": step.runtime, "requests": requests,
            "tflite_p50_us": t50, "tflite_p99_us": t99, "keras_eager_p50_us": k50, "keras_eager_p99_us": k99,
            "speedup_p50": k50 / t50, "tflite_after_idle_p50_us": idle50, "idle_between_calls_ms": IDLE_S * 1000}


IDLE_S = 0.0005
"""How long the process sleeps between two calls in ``after_idle``: about what an agent waits between an app's requests."""
IDLE_REQUESTS = 500


def after_idle(step: Any, inputs: dict[str, np.ndarray], prior: np.ndarray, requests: int) -> list[int]:
    """Nanoseconds of each TFLite call when the process sleeps IDLE_S before it, as a server between requests: the
    CPU's caches have gone cold by then (back-to-back calls, as in ``tflite_p50_us``, keep them warm)."""
    samples = []
    for i in range(requests):
        time.sleep(IDLE_S)
        start = time.perf_counter_ns()
        step.run(inputs["hist_items"][i], inputs["hist_age"][i], inputs["hist_count"][i], inputs["context"][i], prior)
        samples.append(time.perf_counter_ns() - start)
    return samples

