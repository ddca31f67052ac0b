"""TensorFlow without its start-up lines on the terminal.

TensorFlow 2.21 writes its C++ start-up lines (oneDNN, CUDA stubs, cuInit on a machine without a GPU,
CPU features, absl's warning) straight to file descriptor 2, past ``TF_CPP_MIN_LOG_LEVEL``. The CLI
imports it through here and lists its devices (which is when cuInit speaks) with descriptor 2
pointed at /dev/null for that alone, and drops TensorFlow's Python deprecation warnings, unless the
log level is DEBUG (``splitrank --log-level debug ...`` or ``SPLITRANK_LOG_LEVEL=debug``).

The TFLite converter and interpreter write lines to descriptor 2 too while a bundle is exported
("fully_quantize: 0, inference_type: 6, ..." per quantized model, LiteRT's "INFO: Created TensorFlow
Lite XNNPACK delegate for CPU."): ``converter_lines_dropped`` drops those lines alone, and passes
everything else written there (our logs, TensorFlow's warnings and errors) through as it comes.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

LOG_LEVEL_ENV = "SPLITRANK_LOG_LEVEL"
CONVERTER_NOISE = re.compile(rb"^(fully_quantize: |INFO: Created TensorFlow Lite XNNPACK delegate)")
"""The start of each line the TFLite converter and interpreter write to descriptor 2 with nothing to act on."""


def _debugging() -> bool:
    return os.environ.get(LOG_LEVEL_ENV, "INFO").upper() == "DEBUG"


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
    if _debugging():
        import tensorflow
        return
    for module in ("tensorflow", "keras"):
        warnings.filterwarnings("ignore", module=module)
    with native_stderr_silenced():
        import tensorflow

        tensorflow.config.list_physical_devices()


@contextmanager
def converter_lines_dropped(noise: re.Pattern[bytes] = CONVERTER_NOISE) -> Iterator[None]:
    """Inside the block, drop the lines written to file descriptor 2 that ``noise`` matches and pass the
    others on as each line ends; nothing is dropped when the log level is DEBUG."""
    if _debugging():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not noise.match(line):
                    os.write(saved, line)

    forwarder = threading.Thread(target=forward, name="stderr-filter", daemon=True)
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the forwarder reads to the end and stops
        forwarder.join(5)
        os.close(saved)
