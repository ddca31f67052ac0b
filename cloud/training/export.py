"""Export the edge step to TFLite: float32, dynamic-range int8, full-integer int8, and pruned.

Conversion goes through a SavedModel export of the Keras model (``from_keras_model`` needs tf-keras
internals that Keras 3 lacks, and a raw ``tf.function`` fails full-int8 conversion on its variables). Full-integer models keep float32 / int32 inputs and outputs so the
device code is the same for every format; everything between is int8.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

from cloud.data.examples import Examples
from cloud.models.student import Student, edge_model
from core.edge_step import EDGE_INPUTS, PRIOR_INPUT, REQUEST_INPUTS, load_interpreter

FORMATS = ("float32", "dynamic_int8", "full_int8", "pruned_int8")
FLOAT_OPS_IN_FULL_INT8 = ["SCATTER_ND"]


def edge_inputs(examples: Examples, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The edge model's request inputs (history and context) for a set of examples."""
    return {name: getattr(examples, name)[rows] for name in REQUEST_INPUTS}


def _representative(examples: Examples, trend: np.ndarray, order: list[str], samples: int, seed: int) -> Iterator[list[np.ndarray]]:
    """Calibration inputs, positional in the converted model's input order; each example's prior is that of its day."""
    rows = np.random.default_rng(seed).choice(len(examples), size=min(samples, len(examples)), replace=False)
    for row in rows:
        named = {**edge_inputs(examples, np.array([row])), PRIOR_INPUT: trend[examples.day[row : row + 1]]}
        yield [named[name].astype(np.int32 if name == "hist_items" else np.float32) for name in order]


def _input_order(float_model: bytes) -> list[str]:
    names = [detail["name"] for detail in load_interpreter(float_model).interpreter.get_input_details()]
    return [next(key for key in EDGE_INPUTS if key in name) for name in names]


def convert(student: Student, fmt: str, calibration: Examples | None = None, trend: np.ndarray | None = None, *,
            samples: int = 300, seed: int = 0) -> bytes:
    """Convert the student's edge step to one TFLite format (``pruned_int8`` expects pruned weights).
    ``full_int8`` calibrates on ``calibration`` examples with the prior of their day (rows of ``trend``)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {FORMATS}")
    with tempfile.TemporaryDirectory() as saved:
        edge_model(student).export(saved, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        if fmt == "float32":
            return converter.convert()
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if fmt != "full_int8":
            return converter.convert()
        if calibration is None or trend is None:
            raise ValueError("full_int8 needs calibration examples and the trend table")
        order = _input_order(tf.lite.TFLiteConverter.from_saved_model(saved).convert())
        converter.representative_dataset = lambda: _representative(calibration, trend, order, samples, seed)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        # Per-channel scales on the scoring matmul (one channel per catalogue item) would add a float
        # scale and an int64 zero point per item and per bias: ~30% of the file. One scale suffices.
        converter._experimental_disable_per_channel = True
        selective = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=lambda: _representative(calibration, trend, order, samples, seed),
            debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=FLOAT_OPS_IN_FULL_INT8))
        return selective.get_nondebug_quantized_model()


def prune_weights(model: keras.Model, sparsity: float) -> dict[str, np.ndarray]:
    """Zero the smallest-magnitude share ``sparsity`` of every kernel and embedding table in place.

    Returns the masks, so fine-tuning can hold pruned weights at zero (see ``MaskHolder``).
    tensorflow-model-optimization prunes only tf-keras (Keras 2) models, so this is done directly.
    """
    masks = {}
    for weight in model.trainable_weights:
        if len(weight.shape) < 2:
            continue
        values = np.asarray(weight.numpy())
        cut = np.quantile(np.abs(values), sparsity)
        mask = (np.abs(values) > cut).astype(values.dtype)
        weight.assign(values * mask)
        masks[weight.path] = mask
    return masks


class MaskHolder(keras.callbacks.Callback):
    """Re-applies pruning masks after every training batch."""

    def __init__(self, model: keras.Model, masks: dict[str, np.ndarray]) -> None:
        super().__init__()
        self._pairs = [(w, tf.constant(masks[w.path])) for w in model.trainable_weights if w.path in masks]

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        for weight, mask in self._pairs:
            weight.assign(weight * mask)
