"""Keras building blocks shared by the teacher, the student and the split reranker."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

MASKED = -1e9
REPEAT_BONUS = 6.0
"""Initial log-space bonus of an item the customer bought before (validation-tuned on Online Retail)."""
RECENCY_HALF_LIFE_DAYS = 90.0
"""Initial recency half-life of the repeat score."""



def scatter_to_catalogue(hist_items: tf.Tensor, values: tf.Tensor, n_items: int) -> tf.Tensor:
    """Sum per-slot values [B, L] into catalogue positions [B, N] (slots of one item add up)."""
    batch = tf.shape(hist_items)[0]
    rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(hist_items))
    indices = tf.stack([rows, hist_items], axis=-1)
    return tf.scatter_nd(indices, values, tf.stack([batch, n_items]))


def column_positions(columns: tf.Tensor, n_items: int) -> tf.Tensor:
    """For a sampled softmax over ``columns`` (C item ids): each catalogue item's position among them, or
    C for an item outside them, so ``scatter_to_catalogue`` into C + 1 columns drops it in the last one."""
    width = tf.shape(columns)[0]
    return tf.tensor_scatter_nd_update(tf.fill([n_items], width), columns[:, None], tf.range(width))


def mask_padding(logits: tf.Tensor) -> tf.Tensor:
    """Item 0 is padding and must never rank."""
    n = tf.shape(logits)[1]
    return logits + tf.one_hot(0, n, on_value=MASKED, off_value=0.0)


class LogLinearRepeat(keras.layers.Layer):
    """Per-slot repeat logit: bonus + a*log(count) + b*age, plus a residual MLP that starts at zero.

    A negative bonus is what a log without repeats rewards: what the customer already had ranks last."""

    def __init__(self, n_items: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.linear = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant([[1.0], [-math.log(2.0)]]),
                                         bias_initializer=keras.initializers.Constant(REPEAT_BONUS))
        self.propensity = keras.layers.Embedding(n_items, 4, embeddings_initializer="zeros")
        self.residual = keras.Sequential([keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1, kernel_initializer="zeros")])

    def start_at(self, bonus: float, count_weight: float, half_life_days: float) -> None:
        """Set the log-linear start (e.g. a blend fitted on validation); training moves on from it."""
        if not self.linear.built:
            self.linear.build((None, 2))
        recency = -math.log(2.0) * RECENCY_HALF_LIFE_DAYS / half_life_days
        self.linear.set_weights([np.array([[count_weight], [recency]], np.float32), np.array([bonus], np.float32)])

    def call(self, items: tf.Tensor, age: tf.Tensor, count: tf.Tensor, extra: list[tf.Tensor] | None = None) -> tf.Tensor:
        valid = tf.cast(items > 0, tf.float32)
        base = tf.stack([tf.math.log(tf.maximum(count, 1.0)), age / RECENCY_HALF_LIFE_DAYS], -1)
        shape = tf.stack([tf.math.log1p(age) / 6.0, tf.math.log1p(count) / 3.0, tf.pow(0.5, age / 14.0)], -1)
        residual = self.residual(tf.concat([shape, self.propensity(items), *[e[..., None] for e in extra or []]], -1))
        return tf.squeeze(self.linear(base) + residual, -1) * valid


def basket_softmax_loss(targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Cross-entropy of a softmax over the catalogue against a (soft) target distribution.

    ``targets`` are multi-hot basket labels or a teacher-mixed distribution; rows are normalised here.
    """
    targets = targets / tf.maximum(tf.reduce_sum(targets, axis=-1, keepdims=True), 1e-9)
    return -tf.reduce_sum(targets * tf.nn.log_softmax(logits, axis=-1), axis=-1)

