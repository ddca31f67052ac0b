"""``splitrank serve-cloud --workers N``: N server processes on one port.

One Python process has one event loop: when arrivals alone saturate its core, calls wait inside gRPC
before admission control sees them. Several processes bind the same port with SO_REUSEPORT and the
kernel spreads connections over them; each has its own batcher, repository and admission control
(queue limits are per worker), and metrics on ``metrics_port + i``. SIGTERM / SIGINT to the parent
drains every worker.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
from types import FrameType

from cloud.serving.server import ServeSettings, serve
from core.logs import configure_logging

log = logging.getLogger("splitrank.cloud")


def _run_worker(settings: ServeSettings, index: int, log_level: str) -> None:
    configure_logging(log_level, worker=index)
    asyncio.run(serve(settings))


def serve_workers(settings: ServeSettings, workers: int, log_level: str = "INFO") -> int:
    """Run ``workers`` server processes until SIGTERM / SIGINT; returns the exit code (0, or the first worker's failure)."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if workers > 1 and settings.port == 0:
        raise ValueError("several workers need a fixed --port (each would pick its own free port)")
    context = multiprocessing.get_context("spawn")  # no TensorFlow state is forked
    processes = []
    for index in range(workers):
        worker_settings = settings.model_copy(update={"metrics_port": settings.metrics_port + index if settings.metrics_port else 0})
        process = context.Process(target=_run_worker, args=(worker_settings, index, log_level), name=f"serve-cloud-{index}")
        process.start()
        processes.append(process)

    def forward(signum: int, frame: FrameType | None) -> None:
        for process in processes:
            if process.is_alive() and process.pid:
                process.terminate()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    log.info("started %d workers on %s:%d", workers, settings.host, settings.port)
    code = 0
    for process in processes:
        process.join()
        if process.exitcode not in (0, -signal.SIGTERM) and code == 0:
            code = process.exitcode or 1
            forward(signal.SIGTERM, None)  # one worker failed (e.g. no valid bundle): stop the others too
    return code

