"""The TFLite edge step and its item table at growing catalogue sizes: file size, memory and latency.

The student is built at each size with untrained weights (file size, memory and latency do not depend
on the values) and converted like a trained one; requests are random histories of 64 items. Memory is
the process's resident-set growth from loading the model file (as a device does, by path) through the
first request: the file's pages the interpreter touched plus its tensor arena.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.features import CONTEXT_FEATURES

FORMATS = ("full_int8", "dynamic_int8")


def run_edge_catalogue_benchmark(sizes: Sequence[int], *, requests: int = 1000, history_len: int = 64,
                                 progress: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One row per (catalogue size, format): items, format, file_bytes, memory_mb, p50_us, p99_us."""
    from cloud.data.examples import Examples
    from cloud.models.student import Student, StudentConfig
    from cloud.training.export import convert
    from core.edge_step import EdgeStep

    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        progress(f"edge step at {n:,} items: converting")
        hist = rng.integers(1, n, size=(max(requests, 300), history_len)).astype(np.int32)
        hist[:, 20:] = 0
        examples = Examples(hist, rng.exponential(60, hist.shape).astype(np.float32), np.ones(hist.shape, np.float32),
                            rng.random((len(hist), len(CONTEXT_FEATURES))).astype(np.float32), np.zeros(len(hist), np.int32),
                            np.arange(len(hist) + 1, dtype=np.int64), np.ones(len(hist), np.int32))
        student = Student(StudentConfig(n, history_len=history_len))
        prior = rng.random(n).astype(np.float32)
        student({**{name: getattr(examples, name)[:1] for name in ("hist_items", "hist_age", "hist_count", "context")},
                 "trend": prior[None, :]})
        for fmt in FORMATS:
            blob = convert(student, fmt, examples, prior[None, :], samples=50)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "student.tflite"
                path.write_bytes(blob)
                before = _rss_mb()
                step = EdgeStep(path, threads=1)
                step.run(hist[0], examples.hist_age[0], examples.hist_count[0], examples.context[0], prior)
                memory = _rss_mb() - before
            times = []
            for i in range(requests):
                start = time.perf_counter_ns()
                step.run(hist[i], examples.hist_age[i], examples.hist_count[i], examples.context[i], prior)
                times.append(time.perf_counter_ns() - start)
            micros = np.asarray(times[requests // 10 :]) / 1000.0
            rows.append({"items": n, "format": fmt, "file_bytes": len(blob), "memory_mb": memory,
                         "p50_us": float(np.percentile(micros, 50)), "p99_us": float(np.percentile(micros, 99))})
            progress(f"  {fmt}: {len(blob) / 2**20:.1f} MiB, +{memory:.0f} MB resident, p50 {rows[-1]['p50_us']:.0f} us")
            del step
    return rows


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024.0
