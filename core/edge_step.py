"""The edge step: one TFLite call from a customer's history to u and the top-K candidates.

This is the contract between the model that ``cloud/`` exports and the device that runs it: the
tensor names below, and the interpreter that loads it without TensorFlow. ai-edge-litert (LiteRT)
is the default: it runs models from current converters with numpy 2. tflite-runtime 2.14 is a
legacy fallback for old devices on numpy 1.x; it cannot load newer op versions, so a model it
rejects fails with a message naming the runtime. The runtime is imported only when a model loads.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REQUEST_INPUTS = ("hist_items", "hist_age", "hist_count", "context")
"""What one request gives the edge step: the customer's padded history and the request context."""
PRIOR_INPUT = "prior"
"""The popularity prior, float32 [1, N] (item 0 is padding): the newest one the fleet pushed to the device."""
EDGE_INPUTS = (*REQUEST_INPUTS, PRIOR_INPUT)
EDGE_OUTPUTS = ("user_embedding", "candidate_ids", "candidate_scores")

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


@dataclass(frozen=True)
class EdgeResult:
    """Output of one edge step."""

    user_embedding: np.ndarray  # float32 [dim]
    candidate_ids: np.ndarray  # int32 [K], best first
    candidate_scores: np.ndarray  # float32 [K]


class EdgeStep:
    """Runs an exported student model. Not thread-safe: one instance per worker thread."""

    def __init__(self, model: Path | bytes, *, threads: int = 1) -> None:
        loaded = load_interpreter(model, threads=threads)
        self.runtime = loaded.runtime
        self._interpreter = loaded.interpreter
        runner = self._interpreter.get_signature_runner()
        inputs = runner.get_input_details()
        outputs = runner.get_output_details()
        missing = [n for n in EDGE_INPUTS if n not in inputs] + [n for n in EDGE_OUTPUTS if n not in outputs]
        if missing:
            raise ValueError(f"not a splitrank edge model: missing tensors {missing}")
        self._in = [inputs[n]["index"] for n in EDGE_INPUTS]
        self._out = [outputs[n]["index"] for n in EDGE_OUTPUTS]
        self.history_len = int(inputs["hist_items"]["shape"][1])
        self.context_dim = int(inputs["context"]["shape"][1])
        self.candidates = int(outputs["candidate_ids"]["shape"][1])
        self.embedding_dim = int(outputs["user_embedding"]["shape"][1])
        self.prior_size = int(inputs[PRIOR_INPUT]["shape"][1])
        self._prior_fed = False

    def run(self, hist_items: np.ndarray, hist_age: np.ndarray, hist_count: np.ndarray, context: np.ndarray, prior: np.ndarray | None) -> EdgeResult:
        """Inputs are one customer's padded history arrays [L] and context [C], and the popularity prior [N] (float32).
        ``prior`` None keeps the prior fed by the previous call (the interpreter never overwrites an input tensor):
        the caller that owns an unchanging prior array feeds it once, not per request."""
        interp = self._interpreter
        hist_in, age_in, count_in, context_in, prior_in = self._in
        interp.set_tensor(hist_in, hist_items.reshape(1, -1).astype(np.int32, copy=False))
        interp.set_tensor(age_in, hist_age.reshape(1, -1).astype(np.float32, copy=False))
        interp.set_tensor(count_in, hist_count.reshape(1, -1).astype(np.float32, copy=False))
        interp.set_tensor(context_in, context.reshape(1, -1).astype(np.float32, copy=False))
        if prior is not None:
            interp.set_tensor(prior_in, prior.reshape(1, -1).astype(np.float32, copy=False))
            self._prior_fed = True
        elif not self._prior_fed:
            raise ValueError("the edge step needs a prior: none was fed yet")
        interp.invoke()
        get = interp.get_tensor  # returns a copy: the rows below own their data
        user, ids, scores = self._out
        return EdgeResult(get(user)[0], get(ids)[0], get(scores)[0])
