"""Prometheus metrics of the cloud server, in a registry of its own (one per server)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cloud.serving.batcher import BatchObserver

_LATENCY_BUCKETS = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServerMetrics:
    """Requests by method and status code; batch size, queue time and compute time kept apart,
    since tuning batching is about telling them apart; rejections and expiries; the served version."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("splitrank_requests", "RPCs by method and status code", ["method", "code"], registry=self.registry)
        self.batch_size = Histogram("splitrank_batch_size", "Requests per model call", ["model"],
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=self.registry)
        self.queue_seconds = Histogram("splitrank_queue_seconds", "Time a request waited for its batch", ["model"],
                                       buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.compute_seconds = Histogram("splitrank_compute_seconds", "Time of one batched model call", ["model"],
                                         buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.rejected = Counter("splitrank_rejected", "Requests shed because the queue was full", ["model"], registry=self.registry)
        self.expired = Counter("splitrank_expired", "Requests dropped before compute because their deadline passed", ["model"],
                               registry=self.registry)
        self.model_version = Gauge("splitrank_model_version", "Newest model version being served", registry=self.registry)

    def observer(self, model: str) -> BatchObserver:
        """Batcher hooks that record into this registry under ``model``."""

        batch_size, queue_seconds, compute_seconds = (histogram.labels(model) for histogram in
                                                      (self.batch_size, self.queue_seconds, self.compute_seconds))

        def on_batch(size: int, queue_s: Sequence[float], compute_s: float) -> None:
            batch_size.observe(size)
            for waited in queue_s:
                queue_seconds.observe(waited)
            compute_seconds.observe(compute_s)

        return BatchObserver(on_batch=on_batch, on_expired=self.expired.labels(model).inc, on_rejected=self.rejected.labels(model).inc)
