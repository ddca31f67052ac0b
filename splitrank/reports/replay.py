"""Offline replay of a split through the shipped models, request by request: the device's TFLite edge
step, the wire codec, the cloud's reranker and teacher. What the router report and the edge benchmark
measure quality on (the same code paths the agent and the server run, without the sockets)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cloud.data.examples import Dataset, Examples
from cloud.evaluation import per_example_metrics, top_k
from cloud.serving.scoring import ServingModels
from core.codec import FLOAT32, decode, encode
from core.gain_model import router_features
from core.prior import DAY_S, Prior, quantize
from edge.model import EdgeModel


@dataclass(frozen=True)
class Replay:
    """Per request of a split: edge outputs, router features and the rankings of each route."""

    examples: Examples
    user_embedding: np.ndarray  # [E, dim] float32, as the edge computed it
    candidate_ids: np.ndarray  # [E, K] best first
    edge_scores: np.ndarray  # [E, K]
    features: np.ndarray  # [E, F] router features
    unix_time_s: np.ndarray  # [E]
    prior_day_unix_s: np.ndarray  # [E] the day of the prior the edge was fed; 0 = the bundle's own (its release day's)

    def ndcg(self, rankings: np.ndarray) -> np.ndarray:
        """NDCG@10 of each request's ranking (item ids, best first); 0 for a basket of unknown items, as in the mean metrics."""
        return np.nan_to_num(per_example_metrics(self.examples, rankings)["ndcg_at_10"])

    def local_ndcg(self) -> np.ndarray:
        """NDCG@10 of the edge's own top 10, per request."""
        return self.ndcg(self.candidate_ids)

    def split_rankings(self, cloud: ServingModels, encoding: int = FLOAT32, score_encoding: int = FLOAT32, sent: np.ndarray | None = None) -> np.ndarray:
        """The cloud reranker's order of each request's candidates, u and the edge scores sent with these encodings; with
        ``sent`` (bool [E, K]) of only the candidates it marks, each row's rest padded with id 0 (a private split call)."""
        user = np.stack([decode(encode(u, encoding)) for u in self.user_embedding])
        edge = np.stack([decode(encode(s, score_encoding)) for s in self.edge_scores])
        ids = self.candidate_ids
        if sent is not None:  # the carried candidates first, in the edge's order, as the call carries them
            order = np.argsort(~sent, axis=1, kind="stable")
            ids, edge = np.where(np.take_along_axis(sent, order, 1), np.take_along_axis(ids, order, 1), 0), np.take_along_axis(edge, order, 1)
        out = []
        for lo in range(0, len(user), 256):
            part = slice(lo, lo + 256)
            scores = cloud.rerank(user[part], ids[part], edge[part], self.unix_time_s[part], self.prior_day_unix_s[part])
            out.append(np.take_along_axis(ids[part], np.argsort(-scores, axis=1, kind="stable"), 1))
        return np.concatenate(out)

    def cloud_rankings(self, cloud: ServingModels) -> np.ndarray:
        """The teacher's top 20 over the whole catalogue (the cloud route)."""
        ex, out = self.examples, []
        for lo in range(0, len(ex), 256):
            part = slice(lo, lo + 256)
            logits = cloud.rank_full(ex.hist_items[part], ex.hist_age[part], ex.hist_count[part], ex.context[part], self.unix_time_s[part])
            out.append(top_k(logits, 20))
        return np.concatenate(out)


def sdk_history(examples: Examples, row: int, codes: list[str]) -> list[tuple[str, float, float]]:
    """One example's history as an app sends it through the SDK: (item code, age in days, count), most recent first."""
    valid = examples.hist_items[row] > 0
    return [(codes[int(item)], float(age), float(count)) for item, age, count in
            zip(examples.hist_items[row][valid], examples.hist_age[row][valid], examples.hist_count[row][valid], strict=True)]


def request_times(dataset: Dataset, examples: Examples) -> np.ndarray:
    """Unix seconds of each example as a request: noon of its basket's day."""
    return (dataset.start.timestamp() + examples.day.astype(np.float64) * 86400 + 12 * 3600).astype(np.int64)


def pushed_prior(dataset: Dataset, day: int, version: int = 1) -> Prior:
    """The prior the fleet pushes for a day of the dataset (its trend row, int8 as on the wire)."""
    return quantize(dataset.trend[day], version=version, day_unix_s=int(dataset.start.timestamp()) + day * DAY_S)


def replay(dataset: Dataset, examples: Examples, edge: EdgeModel, prior_days: np.ndarray | None = None) -> Replay:
    """Run the edge step on every example of a split (requests at noon of their day), fed the bundle's prior, or
    with ``prior_days`` [E] the pushed prior of that trend-table day."""
    users, ids, scores = [], [], []
    priors: dict[int, Prior] = {}
    for i in range(len(examples)):
        if prior_days is None:
            prior = edge.shipped_prior
        else:
            day = int(prior_days[i])
            if day not in priors:
                priors[day] = pushed_prior(dataset, day)
            prior = priors[day]
        result = edge.run(examples.hist_items[i], examples.hist_age[i], examples.hist_count[i], examples.context[i], prior)
        users.append(result.user_embedding)
        ids.append(result.candidate_ids)
        scores.append(result.candidate_scores)
    ids_a, scores_a = np.stack(ids), np.stack(scores)
    unix = request_times(dataset, examples)
    prior_unix = np.zeros(len(examples), np.int64) if prior_days is None else int(dataset.start.timestamp()) + prior_days.astype(np.int64) * DAY_S
    age = np.maximum(unix - np.where(prior_unix > 0, prior_unix, edge.release_unix_s), 0) / 86400.0
    features = router_features(ids_a, scores_a, examples.hist_items, examples.context, age)
    return Replay(examples, np.stack(users), ids_a, scores_a, features, unix, prior_unix)


PRIOR_AGES_DAYS = (0, 7, 30, 60)
"""Ages of the device's popularity prior the router report compares: a fresh fleet (a push a day), a week, a month, two."""


def replay_by_prior_age(dataset: Dataset, examples: Examples, edge: EdgeModel, ages: tuple[int, ...] = PRIOR_AGES_DAYS) -> dict[int, Replay]:
    """The split replayed as if every device's prior were ``days`` old at each request, for each of ``ages``: the edge
    step is fed the pushed prior of that many days before the request (0 = the request's own day), and the router's
    age feature says so."""
    return {days: replay(dataset, examples, edge, prior_days=np.maximum(examples.day.astype(np.int64) - days, 0)) for days in ages}


def load_models(bundle: Path) -> tuple[EdgeModel, ServingModels]:
    """The device's and the cloud's view of one bundle."""
    return EdgeModel(bundle), ServingModels(bundle)


def replay_test_split(bundle: Path, data: str | None) -> tuple[Replay, EdgeModel, ServingModels]:
    """Load the bundle's data (the same cleaning and split as training) and replay its test split."""
    from cloud.training.pipeline import TrainSettings, load_dataset

    edge, cloud = load_models(bundle)
    dataset, _ = load_dataset(TrainSettings(data=data, history_len=edge.history_len))
    return replay(dataset, dataset.test, edge), edge, cloud
