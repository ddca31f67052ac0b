"""Find a TFLite interpreter without TensorFlow.

ai-edge-litert (LiteRT) is the default: it runs models from current converters with numpy 2.
tflite-runtime 2.14 is a legacy fallback for old devices on numpy 1.x; it cannot load newer op
versions, so a model it rejects fails with a message naming the runtime.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNTIMES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")


class EdgeRuntimeError(RuntimeError):
    """No TFLite runtime could be imported, or the model cannot be loaded by it."""


@dataclass(frozen=True)
class LoadedInterpreter:
    """An allocated interpreter and the name of the runtime that loaded it."""

    interpreter: Any
    runtime: str


def load_interpreter(model: Path | bytes, *, threads: int = 1, runtimes: tuple[str, ...] = RUNTIMES) -> LoadedInterpreter:
    """Load a .tflite model (path or bytes) with the first runtime that imports and accepts it."""
    errors = []
    for module_name in runtimes:
        try:
            module = importlib.import_module(module_name)
        except Exception as err:  # noqa: BLE001 - tflite-runtime fails with numpy 2 at import with assorted errors
            errors.append(f"{module_name}: not usable ({type(err).__name__}: {err})")
            continue
        try:
            if isinstance(model, bytes):
                interpreter = module.Interpreter(model_content=model, num_threads=threads)
            else:
                interpreter = module.Interpreter(model_path=str(model), num_threads=threads)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            errors.append(f"{module_name}: cannot load the model ({err})")
            continue
        return LoadedInterpreter(interpreter, module_name.split(".")[0])
    raise EdgeRuntimeError("no TFLite runtime could load the model: " + "; ".join(errors))
