"""TensorFlow without its start-up lines on the terminal.

TensorFlow 2.21 writes its C++ start-up lines (oneDNN, CUDA stubs, cuInit on a machine without a GPU,
CPU features, absl's warning) straight to file descriptor 2, past ``TF_CPP_MIN_LOG_LEVEL``. The CLI
imports it through here and lists its devices (which is when cuInit speaks) with descriptor 2
pointed at /dev/null for that alone, and drops TensorFlow's Python deprecation warnings, unless the
log level is DEBUG (``splitrank --log-level debug ...`` or ``SPLITRANK_LOG_LEVEL=debug``).
"""

from __future__ import annotations

import os
import sys
import warnings
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
    for module in ("tensorflow", "keras"):
        warnings.filterwarnings("ignore", module=module)
    with native_stderr_silenced():
        import tensorflow

        tensorflow.config.list_physical_devices()
