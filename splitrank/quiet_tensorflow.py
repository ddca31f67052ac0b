"""TensorFlow without its start-up lines on the terminal.

TensorFlow 2.21 writes its C++ start-up lines (oneDNN, CUDA stubs, CPU features, absl's warning)
straight to file descriptor 2 at import, past ``TF_CPP_MIN_LOG_LEVEL``. The CLI imports it through
here, with descriptor 2 pointed at /dev/null for the import alone, unless the log level is DEBUG
(``splitrank --log-level debug ...`` or ``SPLITRANK_LOG_LEVEL=debug``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

LOG_LEVEL_ENV = "SPLITRANK_LOG_LEVEL"


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null inside the block (what C++ code writes there is dropped)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow() -> None:
    """Import TensorFlow once, quietly unless the log level is DEBUG; an import error still raises."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get(LOG_LEVEL_ENV, "INFO").upper() == "DEBUG":
        import tensorflow
        return
    with native_stderr_silenced():
        import tensorflow  # noqa: F401
