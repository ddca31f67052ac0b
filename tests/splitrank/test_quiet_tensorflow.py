"""The converter's lines on file descriptor 2 are dropped during export; everything else written there passes,
in order. Run in a child process, whose descriptor 2 is a real pipe as a terminal's would be."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from splitrank.quiet_tensorflow import LOG_LEVEL_ENV

CHILD = r"""
import logging, os, sys
from splitrank.quiet_tensorflow import converter_lines_dropped

logging.basicConfig(format="%(levelname)s %(message)s")
with converter_lines_dropped():
    os.write(2, b"native warning before\n")
    os.write(2, b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32, output_inference_type: FLOAT32\n")
    print("python line", file=sys.stderr)
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nnative error after\n")
    logging.warning("a log line")
os.write(2, b"fully_quantize: after the block\n")
"""


def _stderr_of_child(log_level: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), LOG_LEVEL_ENV: log_level}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60, check=True)
    return done.stderr


def test_converter_lines_are_dropped_and_the_rest_passes_in_order() -> None:
    assert _stderr_of_child("info").splitlines() == ["native warning before", "python line", "native error after",
                                                    "WARNING a log line", "fully_quantize: after the block"]


def test_debug_level_keeps_the_converter_lines() -> None:
    lines = _stderr_of_child("debug").splitlines()
    assert len(lines) == 7 and lines[1].startswith("fully_quantize: 0") and "XNNPACK" in lines[3]
