"""One training loop for every model: epochs over batches built on the fly, progress per batch (the CLI
shows an ETA), early stopping on the validation metric, and the best epoch's weights restored at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

Progress = Callable[[str, int, int, dict[str, float]], None]
"""(stage, step done, steps in all, latest figures) -> None; the CLI draws progress bars with it."""
PROGRESS_EVERY = 10
"""Batches between progress reports."""


@dataclass(frozen=True)
class FitResult:
    """Best validation score, the epoch it came from, and the per-epoch history."""

    best_score: float
    best_epoch: int
    history: list[dict[str, float]]


class BatchProgress(keras.callbacks.Callback):
    """Reports ``stage`` progress in batches over all epochs, so the bar's ETA moves during an epoch."""

    def __init__(self, stage: str, progress: Progress, batches: int, epochs: int) -> None:
        super().__init__()
        self.stage, self.progress, self.batches, self.epochs = stage, progress, batches, epochs
        self.epoch = 0
        self.figures: dict[str, float] = {}

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if batch % PROGRESS_EVERY == 0:
            self.progress(self.stage, self.epoch * self.batches + batch + 1, self.epochs * self.batches, self.figures)


def fit_with_early_stopping(
    stage: str,
    model: keras.Model,
    batches: keras.utils.PyDataset,
    validate: Callable[[], float],
    *,
    epochs: int,
    patience: int = 2,
    progress: Progress | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> FitResult:
    """Fit for up to ``epochs`` passes over ``batches``, scoring ``validate()`` (higher is better) before training
    and after each epoch; the best weights win, so a model that starts from a good prior never ends worse than it."""
    best, best_epoch, best_weights = float(validate()), -1, model.get_weights()
    history: list[dict[str, float]] = [{"epoch": -1, "loss": float("nan"), "validation": best}]
    reporter = BatchProgress(stage, progress, len(batches), epochs) if progress else None
    for epoch in range(epochs):
        if reporter:
            reporter.epoch = epoch
        fitted = model.fit(batches, epochs=1, verbose=0, callbacks=[*(callbacks or []), *([reporter] if reporter else [])])
        score = float(validate())
        history.append({"epoch": epoch, "loss": float(fitted.history["loss"][-1]), "validation": score})
        if reporter:
            reporter.figures = history[-1]
            reporter.progress(stage, (epoch + 1) * len(batches), epochs * len(batches), history[-1])
        if score > best:
            best, best_epoch, best_weights = score, epoch, model.get_weights()
        elif epoch - best_epoch >= patience:
            break
    model.set_weights(best_weights)
    if reporter:
        reporter.progress(stage, epochs * len(batches), epochs * len(batches), history[-1])
    return FitResult(float(best), best_epoch, history)
