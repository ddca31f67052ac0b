"""What training on a company's own log needs: a blend that fits the log, sparse co-occurrence, and a
sampled softmax that scores exactly what the full one does on the sampled items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cloud.data.cleaning import clean_interactions
from cloud.data.examples import Dataset, SplitDates, build_dataset
from cloud.data.loader import ColumnMap, load_interactions_csv
from cloud.data.synthetic import write_synthetic_log
from cloud.models.item_stats import ItemStats
from cloud.training.batches import ColumnSampler, TrainingBatches, model_inputs
from cloud.training.blend import fit_blend


def _dataset(tmp_path: Path, repeats: bool) -> Dataset:
    log = write_synthetic_log(tmp_path / f"log_{repeats}.csv.gz", interactions=20_000, items=500, repeats=repeats, seed=3)
    frame, _ = clean_interactions(load_interactions_csv(log, ColumnMap("user_id", "item_id", "timestamp")), product_codes_only=False)
    return build_dataset(frame, SplitDates.by_fractions(frame["time"]), history_len=16)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Dataset]:
    tmp = tmp_path_factory.mktemp("logs")
    return {repeats: _dataset(tmp, repeats) for repeats in (True, False)}


def test_blend_rewards_repeats_only_where_the_log_has_them(logs: dict[bool, Dataset]) -> None:
    fitted = {repeats: fit_blend(ds, ItemStats.from_dataset(ds), sample=1000)[0] for repeats, ds in logs.items()}
    assert fitted[True]["repeat_bonus"] > 0
    assert fitted[False]["repeat_bonus"] < 0  # nobody has an item twice: what they had ranks last


def test_neighbours_are_sparse_sorted_and_never_the_item_itself(logs: dict[bool, Dataset]) -> None:
    stats = ItemStats.from_dataset(logs[False], neighbours=10)
    n = logs[False].catalogue.size
    assert stats.neighbours.shape == (n, 10) and stats.neighbour_similarity.shape == (n, 10)
    assert (np.diff(stats.neighbour_similarity, axis=1) <= 1e-6).all()
    has = stats.neighbour_similarity > 0
    assert has.any(axis=1).mean() > 0.5
    assert not (stats.neighbours == np.arange(n)[:, None])[has].any()


def test_sampled_softmax_scores_equal_the_full_ones_on_the_sampled_items(logs: dict[bool, Dataset]) -> None:
    from cloud.models.student import Student, StudentConfig
    from cloud.models.teacher import Teacher, TeacherConfig

    ds = logs[True]
    n = ds.catalogue.size
    rows = np.arange(8)
    columns = ColumnSampler(n, 50)(ds.train, rows, np.random.default_rng(0))
    assert set(ds.train.label_items[: ds.train.label_ptr[8]]) <= set(columns.tolist()) and 0 not in columns
    teacher = Teacher(TeacherConfig(n, history_len=16, knn_weight=2.0), ItemStats.from_dataset(ds))
    student = Student(StudentConfig(n, history_len=16))
    full, sampled = model_inputs(ds, ds.train, rows), model_inputs(ds, ds.train, rows, columns)
    np.testing.assert_allclose(np.asarray(teacher(sampled)), np.asarray(teacher(full))[:, columns], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(student(sampled)[0]), np.asarray(student(full)[0])[:, columns], rtol=1e-4, atol=1e-4)


def test_batches_hold_one_batch_of_labels(logs: dict[bool, Dataset]) -> None:
    ds = logs[True]
    n = ds.catalogue.size
    seen = []

    def make(rows: np.ndarray, columns: np.ndarray | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        seen.extend(rows.tolist())
        return model_inputs(ds, ds.train, rows, columns), ds.train.label_matrix(rows, n, columns)

    batches = TrainingBatches(ds.train, make, batch_size=64, sampler=ColumnSampler(n, 20), seed=0)
    for i in range(len(batches)):
        inputs, labels = batches[i]
        assert labels.shape == (len(inputs["hist_items"]), len(inputs["columns"]))
        assert (labels.sum(1) >= 1).all()  # every basket item is among its batch's columns
    assert sorted(seen) == list(range(len(ds.train)))
