"""The edge step: one TFLite call from a customer's history to u and the top-K candidates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.interpreter import load_interpreter

INPUTS = ("hist_items", "hist_age", "hist_count", "context")
OUTPUTS = ("user_embedding", "candidate_ids", "candidate_scores")


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
        missing = [n for n in INPUTS if n not in inputs] + [n for n in OUTPUTS if n not in outputs]
        if missing:
            raise ValueError(f"not a splitrank edge model: missing tensors {missing}")
        self._in = [inputs[n]["index"] for n in INPUTS]
        self._out = [outputs[n]["index"] for n in OUTPUTS]
        self.history_len = int(inputs["hist_items"]["shape"][1])
        self.context_dim = int(inputs["context"]["shape"][1])
        self.candidates = int(outputs["candidate_ids"]["shape"][1])
        self.embedding_dim = int(outputs["user_embedding"]["shape"][1])

    def run(self, hist_items: np.ndarray, hist_age: np.ndarray, hist_count: np.ndarray, context: np.ndarray) -> EdgeResult:
        """Inputs are one customer's padded history arrays [L] and context [C]."""
        interp = self._interpreter
        interp.set_tensor(self._in[0], hist_items.reshape(1, -1).astype(np.int32, copy=False))
        interp.set_tensor(self._in[1], hist_age.reshape(1, -1).astype(np.float32, copy=False))
        interp.set_tensor(self._in[2], hist_count.reshape(1, -1).astype(np.float32, copy=False))
        interp.set_tensor(self._in[3], context.reshape(1, -1).astype(np.float32, copy=False))
        interp.invoke()
        return EdgeResult(interp.get_tensor(self._out[0])[0].copy(), interp.get_tensor(self._out[1])[0].copy(),
                          interp.get_tensor(self._out[2])[0].copy())
