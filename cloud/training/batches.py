"""Training batches built on the fly: memory follows the batch, never the number of examples.

Labels stay sparse (CSR in ``Examples``) until a batch needs them; teacher soft targets are computed per
batch. Above ``full_softmax_max_items`` a batch scores only its own columns (sampled softmax): the
batch's basket items (in-batch negatives for the other rows) plus uniformly sampled items.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from cloud.data.examples import Dataset, Examples
from cloud.training.export import edge_inputs

Batch = tuple[dict[str, np.ndarray], np.ndarray]


def model_inputs(dataset: Dataset, examples: Examples, rows: np.ndarray, columns: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The teacher's and the training student's inputs for ``rows``: history, context and the trend of each
    example's day, over the whole catalogue or only ``columns`` (then passed on as the ``columns`` input)."""
    inputs = edge_inputs(examples, rows)
    days = examples.day[rows]
    if columns is None:
        inputs["trend"] = dataset.trend[days]
    else:
        inputs["trend"] = dataset.trend[days[:, None], columns[None, :]]
        inputs["columns"] = columns
    return inputs


@dataclass(frozen=True)
class ColumnSampler:
    """Columns of a sampled-softmax batch: its basket items plus ``negatives`` uniform draws (padding excluded)."""

    n_items: int
    negatives: int

    def __call__(self, examples: Examples, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        labels = np.concatenate([examples.labels(int(i)) for i in rows])
        return np.unique(np.concatenate([labels, rng.integers(1, self.n_items, self.negatives)])).astype(np.int32)


class TrainingBatches(keras.utils.PyDataset):
    """One shuffled pass over a split per epoch; ``make(rows, columns)`` turns example rows into (inputs, targets)."""

    def __init__(self, examples: Examples, make: Callable[[np.ndarray, np.ndarray | None], Batch], *, batch_size: int,
                 sampler: ColumnSampler | None, seed: int) -> None:
        super().__init__()
        self.examples, self.make, self.batch_size, self.sampler = examples, make, batch_size, sampler
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(examples))

    def __len__(self) -> int:
        return math.ceil(len(self.examples) / self.batch_size)

    def __getitem__(self, index: int) -> Batch:
        rows = np.sort(self.order[index * self.batch_size : (index + 1) * self.batch_size])
        columns = self.sampler(self.examples, rows, self.rng) if self.sampler else None
        return self.make(rows, columns)

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.examples))
