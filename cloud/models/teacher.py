"""The cloud teacher: a log-linear blend of repeat, trend and co-occurrence with learned residuals, whole catalogue.

logit(item) = repeat(item) + trend weight(context) * trend(item) + kNN weight(context) * knn(item) + u . E[item] + bias[item]

repeat(item) is nonzero only for items in the history: a log-linear score of count and recency plus a
residual MLP over the slot's age, count, the item's repeat rate, a learned per-item propensity and the
customer's affinity to the item. knn(item) is what item-kNN knows: the recency-weighted sum of the
history items' co-occurrence similarities to the item (``ItemStats`` neighbour tables). u comes from
attention over the history and the request context; E is a learned item embedding.

The blend's starting weights (repeat bonus, count weight, recency half-life, trend and kNN weights)
are fitted on the validation split of the log being trained (``cloud.training.blend``): on repeat-heavy
retail the repeat terms carry it, on a log without repeats the bonus turns negative and trend and kNN
carry it. Training moves on from that start and early stopping keeps the best validation epoch, the
start included.

With ``inputs["columns"]`` (C item ids) the logits are for those items only ([B, C]; ``trend`` is then
[B, C] too): the sampled softmax that large catalogues train with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
import tensorflow as tf

from cloud.models.item_stats import ItemStats
from cloud.models.layers import REPEAT_BONUS, LogLinearRepeat, column_positions, mask_padding, scatter_to_catalogue

TREND_WEIGHT = 4.0
KNN_HALF_LIFE_DAYS = 60.0
"""Recency half-life of the history items' weight in the kNN signal (as in the item-kNN baseline)."""


@dataclass(frozen=True)
class TeacherConfig:
    """Size of the teacher and its starting blend (defaults: the Online Retail blend)."""

    n_items: int
    history_len: int = 64
    context_dim: int = 5
    dim: int = 32
    repeat_bonus: float = REPEAT_BONUS
    count_weight: float = 1.0
    recency_half_life_days: float = 90.0
    trend_weight: float = TREND_WEIGHT
    knn_weight: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """For the bundle manifest."""
        return asdict(self)


class Teacher(keras.Model):
    """Inputs (dict): hist_items int32 [B, L], hist_age, hist_count float [B, L], context [B, C],
    trend float [B, N], optionally columns int32 [C]. Output: logits [B, N] (or [B, C])."""

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
        self.trend_weight = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(config.trend_weight))
        self.knn_weight = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(config.knn_weight))
        self.repeat = LogLinearRepeat(n)
        self.repeat.start_at(config.repeat_bonus, config.count_weight, config.recency_half_life_days)
        stats = stats or ItemStats.empty(n)
        k = stats.neighbours.shape[1]
        self.repeat_rate = self.add_weight(shape=(n,), initializer="zeros", trainable=False, name="repeat_rate")
        self.neighbours = self.add_weight(shape=(n, k), initializer="zeros", dtype="int32", trainable=False, name="neighbours")
        self.neighbour_similarity = self.add_weight(shape=(n, k), initializer="zeros", trainable=False, name="neighbour_similarity")
        self.set_item_stats(stats)

    def set_item_stats(self, stats: ItemStats) -> None:
        """Load the cloud's item features (before training, and when a bundle is loaded)."""
        self.repeat_rate.assign(stats.repeat_rate)
        self.neighbours.assign(stats.neighbours)
        self.neighbour_similarity.assign(stats.neighbour_similarity)

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        items = tf.cast(inputs["hist_items"], tf.int32)
        age, count, context = inputs["hist_age"], inputs["hist_count"], inputs["context"]
        valid = tf.cast(items > 0, tf.float32)
        embedded = self.item_embedding(items)
        slot = tf.stack([tf.math.log1p(age) / 6.0, tf.math.log1p(count) / 3.0], -1)
        weights = tf.squeeze(self.pool_score(tf.concat([embedded, slot], -1)), -1) - 1e9 * (1.0 - valid)
        pooled = tf.reduce_sum(tf.nn.softmax(weights, -1)[..., None] * embedded, axis=1)
        user = self.user(tf.concat([pooled, context], -1))
        table, bias = self.item_embedding.embeddings, self.item_bias.embeddings
        if "columns" in inputs:  # sampled softmax: score only these items; others land in a dropped last column
            columns = tf.cast(inputs["columns"], tf.int32)
            table, bias = tf.gather(table, columns), tf.gather(bias, columns)
            positions, width = column_positions(columns, self.config.n_items), tf.shape(columns)[0] + 1
        else:
            positions, width = None, self.config.n_items
        explore = tf.matmul(user, table, transpose_b=True) + tf.transpose(bias)
        affinity = tf.reduce_sum(user[:, None, :] * embedded, -1)
        repeat = self.repeat(items, age, count, [tf.gather(self.repeat_rate, items), affinity])
        at = (lambda ids: ids) if positions is None else (lambda ids: tf.gather(positions, ids))
        neighbour_weight = tf.gather(self.neighbour_similarity, items) * (tf.pow(0.5, age / KNN_HALF_LIFE_DAYS) * valid)[..., None]
        batch = tf.shape(items)[0]
        knn = scatter_to_catalogue(at(tf.reshape(tf.gather(self.neighbours, items), [batch, -1])),
                                   tf.reshape(neighbour_weight, [batch, -1]), width)
        spread = scatter_to_catalogue(at(items), repeat, width) + self.knn_weight(context) * knn
        if positions is not None:
            return explore + self.trend_weight(context) * inputs["trend"] + spread[:, :-1]
        return mask_padding(explore + self.trend_weight(context) * inputs["trend"] + spread)
