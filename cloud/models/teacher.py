"""The cloud teacher: a log-linear repeat-and-trend scorer with learned residuals, whole catalogue.

logit(item) = repeat(item) + trend weight(context) * trend(item) + u . E[item] + bias[item]

repeat(item) is nonzero only for items in the history: a log-linear score of count and recency
(initialised at the best hand-tuned blend on the validation split: bonus 6, log count, a 90-day
recency half-life) plus a residual MLP over the slot's age, count, the item's repeat rate, a learned
per-item propensity and the customer's affinity to the item. u comes from attention over the
history and the request context; E is a learned item embedding. On repeat-heavy retail data the
explicit repeat and recency terms are what beat the personal-frequency baseline; the trailing-window
trend (cloud-only data) and the affinity term let it rank items the customer has not bought yet.
Training starts from the blend and early stopping keeps the best validation epoch, the start included.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
import numpy as np
import tensorflow as tf

from cloud.models.item_stats import ItemStats
from cloud.models.layers import LogLinearRepeat, mask_padding, scatter_to_catalogue

TREND_WEIGHT = 4.0


@dataclass(frozen=True)
class TeacherConfig:
    """Size of the teacher."""

    n_items: int
    history_len: int = 64
    context_dim: int = 5
    dim: int = 32

    def as_dict(self) -> dict[str, int]:
        """For the bundle manifest."""
        return asdict(self)


class Teacher(keras.Model):
    """Inputs (dict): hist_items int32 [B, L], hist_age, hist_count float [B, L], context [B, C],
    trend float [B, N]. Output: logits [B, N]."""

    def __init__(self, config: TeacherConfig, stats: ItemStats | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.config = config
        n, d = config.n_items, config.dim
        self.item_embedding = keras.layers.Embedding(n, d, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                                     embeddings_regularizer=keras.regularizers.L2(1e-6))
        self.item_bias = keras.layers.Embedding(n, 1, embeddings_initializer="zeros")
        self.item_embedding.build((None,))
        self.item_bias.build((None,))
        self.pool_score = keras.layers.Dense(1)
        self.user = keras.Sequential([keras.layers.Dense(2 * d, activation="gelu"), keras.layers.Dense(d)])
        self.trend_weight = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(TREND_WEIGHT))
        self.repeat = LogLinearRepeat(n)
        stats = stats or ItemStats(np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros((1, 1), np.float32))
        self.repeat_rate = self.add_weight(shape=(n,), initializer="zeros", trainable=False, name="repeat_rate")
        self.set_item_stats(stats)

    def set_item_stats(self, stats: ItemStats) -> None:
        """Load the cloud's item features (before training, and when a bundle is loaded)."""
        self.repeat_rate.assign(stats.repeat_rate)

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        items = tf.cast(inputs["hist_items"], tf.int32)
        age, count, context = inputs["hist_age"], inputs["hist_count"], inputs["context"]
        valid = tf.cast(items > 0, tf.float32)
        embedded = self.item_embedding(items)
        slot = tf.stack([tf.math.log1p(age) / 6.0, tf.math.log1p(count) / 3.0], -1)
        weights = tf.squeeze(self.pool_score(tf.concat([embedded, slot], -1)), -1) - 1e9 * (1.0 - valid)
        pooled = tf.reduce_sum(tf.nn.softmax(weights, -1)[..., None] * embedded, axis=1)
        user = self.user(tf.concat([pooled, context], -1))
        explore = tf.matmul(user, self.item_embedding.embeddings, transpose_b=True) + tf.transpose(self.item_bias.embeddings)
        affinity = tf.reduce_sum(user[:, None, :] * embedded, -1)
        repeat = self.repeat(items, age, count, [tf.gather(self.repeat_rate, items), affinity])
        logits = explore + self.trend_weight(context) * inputs["trend"] + scatter_to_catalogue(items, repeat, self.config.n_items)
        return mask_padding(logits)
