"""Prometheus metrics of the cloud server, in a registry of its own (one per server).

The per-call counts are plain Python numbers, exported when Prometheus scrapes: the event loop is their only
writer (a writer on another thread would lose counts), so a call pays an addition, not a lock and a label lookup (prometheus_client's objects cost a few
microseconds per update, a tenth of a split call's whole serving cost).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from cloud.serving.batcher import BatchObserver

_LATENCY_BUCKETS = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
MODELS = ("reranker", "teacher")


class Histogram:
    """Counts per bucket (a value goes in the first bucket whose bound is >= it; the last is +Inf) and their sum."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count one value."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def family(self, name: str, documentation: str, model: str) -> HistogramMetricFamily:
        """This histogram as Prometheus exposes it (cumulative buckets)."""
        cumulative, running = [], 0
        for bound, count in zip((*map(floatToGoString, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            cumulative.append((bound, running))
        family = HistogramMetricFamily(name, documentation, labels=["model"])
        family.add_metric([model], cumulative, self.sum)
        return family


class ServerMetrics:
    """Requests by method and status code; batch size, queue time and compute time kept apart,
    since tuning batching is about telling them apart; rejections and expiries; the served version."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests: Counter[tuple[str, str]] = Counter()
        """Calls by (method, status code name)."""
        self.batch_size = {model: Histogram(_BATCH_BUCKETS) for model in MODELS}
        self.queue_seconds = {model: Histogram(_LATENCY_BUCKETS) for model in MODELS}
        self.compute_seconds = {model: Histogram(_LATENCY_BUCKETS) for model in MODELS}
        self.rejected: Counter[str] = Counter()
        self.expired: Counter[str] = Counter()
        self.model_version = Gauge("splitrank_model_version", "Newest model version being served", registry=self.registry)
        self.registry.register(self)

    def count(self, method: str, code: str) -> None:
        """Count one call of ``method`` that ended with status ``code`` (its name: "OK", "INVALID_ARGUMENT", ...)."""
        self.requests[method, code] += 1

    def collect(self) -> Iterator[Metric]:
        """The counts as Prometheus metric families (called on each scrape)."""
        requests = CounterMetricFamily("splitrank_requests", "RPCs by method and status code", labels=["method", "code"])
        for (method, code), count in list(self.requests.items()):
            requests.add_metric([method, code], count)
        yield requests
        for name, documentation, histograms in (
                ("splitrank_batch_size", "Requests per model call", self.batch_size),
                ("splitrank_queue_seconds", "Time a request waited for its batch", self.queue_seconds),
                ("splitrank_compute_seconds", "Time of one batched model call", self.compute_seconds)):
            for model, histogram in histograms.items():
                yield histogram.family(name, documentation, model)
        for name, documentation, counts in (
                ("splitrank_rejected", "Requests shed because the queue was full", self.rejected),
                ("splitrank_expired", "Requests dropped before compute because their deadline passed", self.expired)):
            family = CounterMetricFamily(name, documentation, labels=["model"])
            for model in MODELS:
                family.add_metric([model], counts[model])
            yield family

    def observer(self, model: str) -> BatchObserver:
        """Batcher hooks that record under ``model``."""
        batch_size, queue_seconds, compute_seconds = self.batch_size[model], self.queue_seconds[model], self.compute_seconds[model]

        def on_batch(size: int, queue_s: Sequence[float], compute_s: float) -> None:
            batch_size.observe(size)
            for waited in queue_s:
                queue_seconds.observe(waited)
            compute_seconds.observe(compute_s)

        def on_expired() -> None:
            self.expired[model] += 1

        def on_rejected() -> None:
            self.rejected[model] += 1

        return BatchObserver(on_batch=on_batch, on_expired=on_expired, on_rejected=on_rejected)
