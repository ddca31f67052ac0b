"""The split reranker: rescores the K edge candidates in the cloud, without the raw history.

It sees only what the split call carries (the dequantized user embedding u, the candidate ids, the
edge scores, the edge model version) plus the cloud's own item features: the popularity prior baked
into that edge version (so a stale prior inside the edge scores can be corrected), its item
embedding, the live trailing-window trend,
popularity, repeat rate, and how strongly each candidate co-occurs with the other candidates (its
top ``PAIR_NEIGHBOURS`` co-occurrence neighbours among them, weighted by their edge scores): what
item-kNN knows, and a proxy for the history the device did not send.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
import tensorflow as tf

from cloud.models.item_stats import ItemStats

PAIR_NEIGHBOURS = 10
"""Co-occurrence neighbours per candidate compared with the other candidates: [B, K, 10, K] per call, about
as cheap as the [N, N] similarity gather it replaced."""
RERANK_INPUTS = ("user_embedding", "candidate_ids", "edge_scores", "candidate_trend", "candidate_prior")


@dataclass(frozen=True)
class RerankerConfig:
    """Size of the reranker; ``user_dim`` must equal the student's embedding size."""

    n_items: int
    user_dim: int = 32
    dim: int = 32
    hidden: int = 64

    def as_dict(self) -> dict[str, int]:
        """For the bundle manifest."""
        return asdict(self)


class SplitReranker(keras.Model):
    """Inputs (dict): user_embedding [B, user_dim], candidate_ids int32 [B, K], edge_scores [B, K],
    candidate_trend [B, K] (live), candidate_prior [B, K] (the edge release's prior). Output: logits [B, K]."""

    def __init__(self, config: RerankerConfig, stats: ItemStats | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.config = config
        n = config.n_items
        self.item_embedding = keras.layers.Embedding(n, config.dim, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.05),
                                                     embeddings_regularizer=keras.regularizers.L2(1e-6))
        self.item_embedding.build((None,))
        self.user_projection = keras.layers.Dense(config.dim)
        self.mlp = keras.Sequential([keras.layers.Dense(config.hidden, activation="relu"), keras.layers.Dense(config.hidden // 2, activation="relu"),
                                     keras.layers.Dense(1)])
        stats = stats or ItemStats.empty(n, PAIR_NEIGHBOURS)
        k = min(PAIR_NEIGHBOURS, stats.neighbours.shape[1])
        self.popularity = self.add_weight(shape=(n,), initializer="zeros", trainable=False, name="popularity")
        self.repeat_rate = self.add_weight(shape=(n,), initializer="zeros", trainable=False, name="repeat_rate")
        self.neighbours = self.add_weight(shape=(n, k), initializer="zeros", dtype="int32", trainable=False, name="neighbours")
        self.neighbour_similarity = self.add_weight(shape=(n, k), initializer="zeros", trainable=False, name="neighbour_similarity")
        self.set_item_stats(stats)

    def set_item_stats(self, stats: ItemStats) -> None:
        """Load the cloud's item features."""
        k = self.neighbours.shape[1]
        self.popularity.assign(stats.popularity / max(float(stats.popularity.max()), 1e-9))
        self.repeat_rate.assign(stats.repeat_rate)
        self.neighbours.assign(stats.neighbours[:, :k])
        self.neighbour_similarity.assign(stats.neighbour_similarity[:, :k])

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        ids = tf.cast(inputs["candidate_ids"], tf.int32)
        edge = inputs["edge_scores"]
        user = self.user_projection(inputs["user_embedding"])
        affinity = tf.reduce_sum(user[:, None, :] * self.item_embedding(ids), -1)
        edge_rank = tf.nn.softmax(edge, axis=-1)
        centred = edge - tf.reduce_max(edge, axis=-1, keepdims=True)
        # sim[b, i, j]: similarity of candidate j if it is among candidate i's neighbours, else 0: [B, K, K]
        same = tf.cast(tf.equal(tf.gather(self.neighbours, ids)[:, :, :, None], ids[:, None, None, :]), tf.float32)
        sim = tf.einsum("bimj,bim->bij", same, tf.gather(self.neighbour_similarity, ids))
        coherence = tf.math.log1p(10.0 * tf.reduce_sum(sim * edge_rank[:, None, :], -1))
        trend, prior = inputs["candidate_trend"], inputs["candidate_prior"]
        features = tf.stack([edge, centred, tf.math.log(edge_rank + 1e-9) / 10.0, affinity, coherence, trend, prior, trend - prior,
                             tf.gather(self.popularity, ids), tf.gather(self.repeat_rate, ids)], -1)
        return tf.squeeze(self.mlp(features), -1)
