"""Metrics on hand-checked rankings, and baselines that behave as their names say."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cloud.data import load_online_retail
from cloud.data.cleaning import clean_interactions
from cloud.data.examples import Examples, SplitDates, build_dataset
from cloud.evaluation import evaluate, metrics_from_rankings, top_k
from cloud.models.baselines import ItemKnn, PersonalFrequency, Popularity


def _examples(labels: list[list[int]]) -> Examples:
    ptr = np.cumsum([0] + [len(x) for x in labels])
    zeros = np.zeros((len(labels), 1))
    return Examples(zeros.astype(np.int32), zeros.astype(np.float32), zeros.astype(np.float32), zeros.astype(np.float32),
                    np.zeros(len(labels), np.int32), ptr, np.concatenate(labels).astype(np.int32))


def test_metrics_match_hand_computation() -> None:
    examples = _examples([[3], [5, 6]])
    rankings = np.array([[3] + list(range(10, 29)), [1, 5] + list(range(10, 28))])
    m = metrics_from_rankings(examples, rankings)
    ndcg_second = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert math.isclose(m.ndcg_at_10, (1.0 + ndcg_second) / 2)
    assert math.isclose(m.recall_at_20, (1.0 + 0.5) / 2)
    assert m.hit_rate_at_10 == 1.0


def test_top_k_never_returns_padding() -> None:
    scores = np.array([[100.0, 1.0, 3.0, 2.0]])
    assert top_k(scores, 2).tolist() == [[2, 3]]


def test_personal_frequency_beats_popularity_on_repeat_buyers(synthetic_data: Path) -> None:
    cleaned, _ = clean_interactions(load_online_retail(synthetic_data))
    dataset = build_dataset(cleaned, SplitDates.online_retail(), history_len=16)
    personal = evaluate(PersonalFrequency(dataset), dataset.test).ndcg_at_10
    popular = evaluate(Popularity(dataset), dataset.test).ndcg_at_10
    knn = evaluate(ItemKnn(dataset), dataset.test).ndcg_at_10
    assert personal > 1.5 * popular, (personal, popular)
    assert knn > popular, (knn, popular)
