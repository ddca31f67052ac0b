"""The edge student: a small two-tower model whose TFLite graph does the whole edge step.

user tower: attention-pooled history-side item embeddings H + request context -> u (``dim`` floats).
item tower: the device's candidate-side item table V, a learned per-item bias, and a popularity prior
(the trailing-window trend of one day). The prior is an input of the exported graph, not a weight: the
device feeds the newest prior the fleet pushed to it (the bundle's own, of its release day, until the
first push), so a fresh prior needs no model reload.
score(item) = u . V[item] + bias[item] + w * prior[item] + repeat(item), where repeat is the same log-linear repeat
score the teacher starts from (count, recency, learned residual), nonzero for items in the history,
so the candidates keep what the customer is likely to buy again. The exported graph ends in top-K and
returns u (what the split route sends), the candidate ids and their scores. Distilled from the teacher.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
import tensorflow as tf

from cloud.models.layers import LogLinearRepeat, column_positions, mask_padding, scatter_to_catalogue
from cloud.models.teacher import TREND_WEIGHT
from core.edge_step import PRIOR_INPUT


@dataclass(frozen=True)
class StudentConfig:
    """Size of the student; ``candidates`` is K, the edge top-K."""

    n_items: int
    history_len: int = 64
    context_dim: int = 5
    dim: int = 32
    history_dim: int = 16
    candidates: int = 64

    def as_dict(self) -> dict[str, int]:
        """For the bundle manifest."""
        return asdict(self)


class Student(keras.Model):
    """Training form: dict inputs of batch B -> (logits [B, N], user embedding [B, dim]).

    ``inputs["trend"]`` [B, N] is each example's popularity prior (in training, that of its own day).
    """

    def __init__(self, config: StudentConfig, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.config = config
        n, d = config.n_items, config.dim
        self.item_table = keras.layers.Embedding(n, d, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                                 embeddings_regularizer=keras.regularizers.L2(1e-6))
        self.item_bias = keras.layers.Embedding(n, 1, embeddings_initializer="zeros")
        self.prior_weight = self.add_weight(shape=(), initializer=keras.initializers.Constant(TREND_WEIGHT), name="prior_weight")
        # A separate, smaller history-side table: sharing V would store it twice in full-int8 files
        # (the gather needs per-tensor scales, the scoring matmul per-item ones).
        self.history_table = keras.layers.Embedding(n, config.history_dim, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                                    embeddings_regularizer=keras.regularizers.L2(1e-6))
        self.item_table.build((None,))
        self.item_bias.build((None,))
        self.pool_score = keras.layers.Dense(1)
        self.user = keras.Sequential([keras.layers.Dense(2 * d, activation="relu"), keras.layers.Dense(d)])
        self.repeat = LogLinearRepeat(n)

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False, return_mask: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
        """``return_mask=False`` (the export) drops the padding column instead of masking it with a huge
        negative, which would stretch the int8 range of the logits until every item shares one bucket."""
        items = tf.cast(inputs["hist_items"], tf.int32)
        age, count = inputs["hist_age"], inputs["hist_count"]
        valid = tf.cast(items > 0, tf.float32)
        embedded = self.history_table(items)
        slot = tf.stack([tf.math.log1p(age) / 6.0, tf.math.log1p(count) / 3.0], -1)
        weights = tf.squeeze(self.pool_score(tf.concat([embedded, slot], -1)), -1) - 1e9 * (1.0 - valid)
        pooled = tf.reduce_sum(tf.nn.softmax(weights, -1)[..., None] * embedded, axis=1)
        user = self.user(tf.concat([pooled, inputs["context"]], -1))
        prior = inputs["trend"]
        table, bias = self.item_table.embeddings, self.item_bias.embeddings
        if "columns" in inputs:  # training's sampled softmax (see Teacher): logits [B, C] for these items
            columns = tf.cast(inputs["columns"], tf.int32)
            explore = tf.matmul(user, tf.gather(table, columns), transpose_b=True) + tf.transpose(tf.gather(bias, columns))
            positions = tf.gather(column_positions(columns, self.config.n_items), items)
            repeat = scatter_to_catalogue(positions, self.repeat(items, age, count), tf.shape(columns)[0] + 1)[:, :-1]
            return explore + self.prior_weight * prior + repeat, user
        explore = tf.matmul(user, table, transpose_b=True) + tf.transpose(bias)
        explore += self.prior_weight * prior
        repeat = self.repeat(items, age, count)
        logits = explore + scatter_to_catalogue(items, repeat, self.config.n_items)
        return (mask_padding(logits) if return_mask else logits[:, 1:]), user


def edge_model(student: Student) -> keras.Model:
    """The edge step as a batch-1 Keras model (what is converted to TFLite): inputs EDGE_INPUTS (the
    request's history and context, and the popularity prior [1, N]), outputs EDGE_OUTPUTS (u, top-K
    candidate ids, their scores)."""
    cfg = student.config
    inputs = {
        "hist_items": keras.Input((cfg.history_len,), batch_size=1, dtype="int32", name="hist_items"),
        "hist_age": keras.Input((cfg.history_len,), batch_size=1, dtype="float32", name="hist_age"),
        "hist_count": keras.Input((cfg.history_len,), batch_size=1, dtype="float32", name="hist_count"),
        "context": keras.Input((cfg.context_dim,), batch_size=1, dtype="float32", name="context"),
        PRIOR_INPUT: keras.Input((cfg.n_items,), batch_size=1, dtype="float32", name=PRIOR_INPUT),
    }
    logits, user = student({**inputs, "trend": inputs[PRIOR_INPUT]}, return_mask=False)
    scores, ids = TopK(cfg.candidates)(logits)
    outputs = {"user_embedding": keras.layers.Identity(name="user_embedding")(user),
               "candidate_ids": keras.layers.Identity(name="candidate_ids")(ids),
               "candidate_scores": keras.layers.Identity(name="candidate_scores")(scores)}
    return keras.Model(inputs, outputs, name="edge_step")


class TopK(keras.layers.Layer):
    """(values, item ids) of the k largest logits over items 1..N-1."""

    def __init__(self, k: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.k = k

    def call(self, logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        top = tf.math.top_k(logits, k=self.k)
        return top.values, tf.cast(top.indices, tf.int32) + 1  # logits start at item 1 (padding dropped)
