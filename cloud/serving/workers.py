"""``splitrank serve-cloud --workers N``: N server processes on one port (N = 1 too).

One Python process has one event loop: when arrivals alone saturate its core, calls wait inside gRPC
before admission control sees them. Several processes bind the same port with SO_REUSEPORT and the
kernel spreads connections over them; each has its own batcher, repository and admission control
(queue limits are per worker), and metrics on ``metrics_port + i``. Workers start in the environment
that makes gRPC's core shed with RESOURCE_EXHAUSTED (``core_admission``), which the parent, having
initialised gRPC already, cannot get for itself. SIGTERM / SIGINT to the parent drains every worker, and
a worker whose parent dies (even by SIGKILL) gets SIGTERM and drains too, so none is left holding the port.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from types import FrameType

from cloud.serving.core_admission import core_admission_environment
from cloud.serving.repository import UnknownVersion
from cloud.serving.server import ServeSettings, serve
from core.bundle import BundleError
from core.logs import configure_logging

log = logging.getLogger("splitrank.cloud")


_PR_SET_PDEATHSIG = 1  # prctl(2)


def _end_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _run_worker(settings: ServeSettings, index: int, log_level: str) -> None:
    _end_with_parent()
    configure_logging(log_level, worker=index)
    try:
        asyncio.run(serve(settings))
    except (BundleError, UnknownVersion, ValueError, OSError) as err:  # no valid bundle, a taken port, bad TLS files: one line
        log.error("%s", err.args[0] if isinstance(err, KeyError) else err)
        raise SystemExit(1) from None


def serve_workers(settings: ServeSettings, workers: int, log_level: str = "INFO") -> int:
    """Run ``workers`` server processes until SIGTERM / SIGINT; returns the exit code (0, or the first worker's failure)."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if workers > 1 and settings.port == 0:
        raise ValueError("several workers need a fixed --port (each would pick its own free port)")
    context = multiprocessing.get_context("spawn")  # no TensorFlow state is forked
    os.environ.update(core_admission_environment())  # spawned workers start in this environment and initialise gRPC with it
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

