"""One training loop for every model: epochs with a progress callback, early stopping on the
validation metric, and the best epoch's weights restored at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

Progress = Callable[[str, int, int, dict[str, float]], None]
"""(stage, step done, steps in all, latest figures) -> None; the CLI draws progress bars with it."""


@dataclass(frozen=True)
class FitResult:
    """Best validation score, the epoch it came from, and the per-epoch history."""

    best_score: float
    best_epoch: int
    history: list[dict[str, float]]


def fit_with_early_stopping(
    stage: str,
    model: keras.Model,
    inputs: dict[str, np.ndarray],
    targets: np.ndarray,
    validate: Callable[[], float],
    *,
    epochs: int,
    batch_size: int,
    patience: int = 2,
    progress: Progress | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> FitResult:
    """Fit for up to ``epochs`` epochs, scoring ``validate()`` (higher is better) before training and after
    each epoch; the best weights win, so a model that starts from a good prior never ends worse than it."""
    best, best_epoch, best_weights = float(validate()), -1, model.get_weights()
    history: list[dict[str, float]] = [{"epoch": -1, "loss": float("nan"), "validation": best}]
    for epoch in range(epochs):
        fitted = model.fit(inputs, targets, batch_size=batch_size, epochs=1, verbose=0, shuffle=True, callbacks=callbacks or [])
        score = float(validate())
        history.append({"epoch": epoch, "loss": float(fitted.history["loss"][-1]), "validation": score})
        if progress:
            progress(stage, epoch + 1, epochs, history[-1])
        if score > best:
            best, best_epoch, best_weights = score, epoch, model.get_weights()
        elif epoch - best_epoch >= patience:
            break
    model.set_weights(best_weights)
    if progress:
        progress(stage, epochs, epochs, history[-1])
    return FitResult(float(best), best_epoch, history)
