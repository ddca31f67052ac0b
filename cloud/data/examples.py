"""Turn cleaned interactions into ranking examples with a temporal split.

An example is one basket (invoice): the customer's history strictly before it -> the distinct items
in it. Histories are summarised the way a device keeps them: the last ``history_len`` distinct items,
most recent first, each with its age in days and how many baskets held it. Splits are by date, never
random: train < validation_start <= validation < test_start <= test. Histories of validation and
test baskets include everything the customer bought before them, as a live system would know.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

import numpy as np
import pandas as pd

from cloud.data.errors import DataError
from cloud.data.popularity import WINDOW_DAYS, relative_log_counts
from core.features import CONTEXT_FEATURES, context_features


@dataclass(frozen=True)
class SplitDates:
    """Boundaries of the temporal split (validation and test start, inclusive)."""

    validation_start: datetime
    test_start: datetime

    @classmethod
    def online_retail(cls) -> SplitDates:
        """Train to August 2011, validate on September, test from 2011-10-01 to the end (2011-12-09)."""
        return cls(datetime(2011, 9, 1), datetime(2011, 10, 1))

    @classmethod
    def by_fractions(cls, times: pd.Series, validation: float = 0.1, test: float = 0.2) -> SplitDates:
        """Split a log of unknown dates by time quantiles: the last ``test`` share is the test period."""
        lo, hi = times.min(), times.max()
        span = hi - lo
        return cls((lo + span * (1 - test - validation)).to_pydatetime(), (lo + span * (1 - test)).to_pydatetime())


@dataclass(frozen=True)
class Catalogue:
    """Item vocabulary. Index 0 is padding; item ``i`` has code ``codes[i]``."""

    codes: tuple[str, ...]
    descriptions: tuple[str, ...]

    @property
    def size(self) -> int:
        """Number of rows of every item table, padding included."""
        return len(self.codes)


@dataclass
class Examples:
    """One split's examples as arrays (E examples, L history slots, padding item 0)."""

    hist_items: np.ndarray  # int32 [E, L]
    hist_age: np.ndarray  # float32 [E, L] days since the item was last bought
    hist_count: np.ndarray  # float32 [E, L] baskets that held the item
    context: np.ndarray  # float32 [E, len(CONTEXT_FEATURES)]
    day: np.ndarray  # int32 [E] day index into the trend table
    label_ptr: np.ndarray  # int64 [E + 1] CSR offsets into label_items
    label_items: np.ndarray  # int32 [sum of basket sizes]
    user: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # int32 [E]

    def __len__(self) -> int:
        return int(self.hist_items.shape[0])

    def labels(self, index: int) -> np.ndarray:
        """The distinct items of example ``index``'s basket."""
        return self.label_items[self.label_ptr[index] : self.label_ptr[index + 1]]

    def label_matrix(self, rows: np.ndarray, n_items: int, columns: np.ndarray | None = None) -> np.ndarray:
        """Multi-hot labels for ``rows``: float32 [len(rows), n_items], or [len(rows), len(columns)] over
        the items ``columns`` (a sampled softmax's columns; basket items outside them are left out)."""
        position = np.arange(n_items)
        if columns is not None:
            position = np.full(n_items, -1, np.int64)
            position[columns] = np.arange(len(columns))
        out = np.zeros((len(rows), n_items if columns is None else len(columns)), np.float32)
        for r, index in enumerate(rows):
            at = position[self.labels(int(index))]
            out[r, at[at >= 0]] = 1.0
        return out

    def take(self, rows: np.ndarray) -> Examples:
        """A subset of examples, in the given order."""
        labels = [self.labels(int(i)) for i in rows]
        ptr = np.zeros(len(rows) + 1, np.int64)
        ptr[1:] = np.cumsum([len(x) for x in labels])
        return Examples(
            self.hist_items[rows], self.hist_age[rows], self.hist_count[rows], self.context[rows], self.day[rows],
            ptr, np.concatenate(labels).astype(np.int32) if labels else np.zeros(0, np.int32), self.user[rows],
        )


@dataclass
class Dataset:
    """Everything training and evaluation need, built once from a cleaned log."""

    catalogue: Catalogue
    train: Examples
    validation: Examples
    test: Examples
    trend: np.ndarray  # float32 [days, n_items]: log1p(baskets in the trailing window) / that of the day's top item
    start: datetime
    split: SplitDates
    history_len: int
    fingerprint: str

    def splits(self) -> dict[str, Examples]:
        """Name -> examples, in training order."""
        return {"train": self.train, "validation": self.validation, "test": self.test}


def build_dataset(frame: pd.DataFrame, split: SplitDates, *, history_len: int = 64) -> Dataset:
    """Build the catalogue, trend table and the three splits from a cleaned interactions frame."""
    if frame.empty:
        raise DataError("no interactions to build examples from")
    frame = frame.sort_values(["time", "basket"], kind="stable")
    counts = frame.groupby("item")["basket"].nunique().sort_values(ascending=False, kind="stable")
    descriptions = frame.groupby("item")["description"].first()
    codes = ("<pad>", *counts.index.tolist())
    catalogue = Catalogue(codes, ("", *(str(descriptions[c]) for c in counts.index)))
    index = {code: i for i, code in enumerate(codes)}

    start = frame["time"].min().normalize().to_pydatetime()
    day = ((frame["time"] - start).dt.days).to_numpy(np.int32)
    item = frame["item"].map(index).to_numpy(np.int32)
    trend = _trend_table(day, frame["basket"].to_numpy(), item, catalogue.size)

    # One row per basket, each customer's baskets in time order; basket items as CSR (ptr, items).
    rows = pd.DataFrame({"user": frame["user"].to_numpy(), "basket": frame["basket"].to_numpy(), "time": frame["time"].to_numpy(),
                         "day": day, "item": item}).drop_duplicates(["user", "basket", "item"])
    rows["bid"] = rows.groupby(["user", "basket"], sort=False).ngroup()
    baskets = rows.groupby("bid", sort=True).agg(user=("user", "first"), basket=("basket", "first"), time=("time", "min"),
                                                 day=("day", "first"))
    rows = rows.sort_values(["bid", "item"], kind="stable")
    basket_items = rows["item"].to_numpy(np.int32)
    basket_ptr = np.concatenate([[0], np.cumsum(np.bincount(rows["bid"].to_numpy(), minlength=len(baskets)))])
    order = baskets.sort_values(["user", "time", "basket"], kind="stable").index.to_numpy()
    user_codes = pd.factorize(baskets["user"].to_numpy()[order])[0]
    when = np.asarray(baskets["time"].dt.to_pydatetime())[order]
    now_days = ((baskets["time"] - pd.Timestamp(start)).dt.total_seconds().to_numpy() / 86400.0)[order]
    times = baskets["time"].to_numpy()[order]
    period = np.where(times < np.datetime64(split.validation_start), 0, np.where(times < np.datetime64(split.test_start), 1, 2))
    basket_day = baskets["day"].to_numpy()[order]
    builders = [_ExampleBuilder(history_len) for _ in ("train", "validation", "test")]
    state: OrderedDict[int, list[float]] = OrderedDict()  # item -> [day last had, baskets], least recent first
    first_seen: dict[int, int] = {}  # item -> order in which the customer first had it
    previous_user, last_day, n_baskets = -1, 0.0, 0
    for i, b in enumerate(order):
        user, now = int(user_codes[i]), float(now_days[i])
        if user != previous_user:
            state.clear()
            first_seen.clear()
            previous_user, n_baskets = user, 0
        items = basket_items[basket_ptr[b] : basket_ptr[b + 1]]
        if state:
            builders[period[i]].add(state, now, when[i], now - last_day, n_baskets, int(basket_day[i]), items, user)
        for it in items.tolist():
            first_seen.setdefault(it, len(first_seen))
        for it in items.tolist():
            entry = state.setdefault(it, [now, 0.0])
            entry[0] = now
            entry[1] += 1.0
        # Items had at this moment go last, so iterating from the end yields them first and, among them, the
        # items the customer first had earliest (the history keeps those when a basket spills over history_len).
        same_time = []
        for it, (last, _) in reversed(state.items()):
            if last != now:
                break
            same_time.append(it)
        for it in sorted(set(same_time) | set(items.tolist()), key=first_seen.__getitem__, reverse=True):
            state.move_to_end(it)
        last_day, n_baskets = now, n_baskets + 1
    builders_by_name = dict(zip(("train", "validation", "test"), builders, strict=True))
    splits = {name: b.build() for name, b in builders_by_name.items()}
    for name, examples in splits.items():
        if len(examples) == 0:
            raise DataError(
                f"the {name} split is empty: no basket of a returning customer falls in it "
                f"(validation starts {split.validation_start:%Y-%m-%d}, test starts {split.test_start:%Y-%m-%d}; "
                f"data spans {frame['time'].min():%Y-%m-%d} .. {frame['time'].max():%Y-%m-%d})"
            )
    return Dataset(
        catalogue, splits["train"], splits["validation"], splits["test"], trend, start, split, history_len,
        fingerprint=_fingerprint(frame, split, history_len),
    )


class _ExampleBuilder:
    def __init__(self, history_len: int) -> None:
        self.history_len = history_len
        self.rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, np.ndarray, int]] = []

    def add(self, state: OrderedDict[int, list[float]], now: float, when: datetime, days_since_last: float,
            n_baskets: int, day: int, items: np.ndarray, user: int) -> None:
        recent = list(islice(reversed(state.items()), self.history_len))  # most recent first
        hist = np.zeros(self.history_len, np.int32)
        age = np.zeros(self.history_len, np.float32)
        count = np.zeros(self.history_len, np.float32)
        hist[: len(recent)] = [k for k, _ in recent]
        age[: len(recent)] = [now - v[0] for _, v in recent]
        count[: len(recent)] = [v[1] for _, v in recent]
        context = context_features(when, days_since_last, n_baskets, len(state))
        self.rows.append((hist, age, count, context, day, items, user))

    def build(self) -> Examples:
        if not self.rows:
            empty = np.zeros((0, self.history_len))
            return Examples(empty.astype(np.int32), empty.astype(np.float32), empty.astype(np.float32),
                            np.zeros((0, len(CONTEXT_FEATURES)), np.float32), np.zeros(0, np.int32),
                            np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32))
        hist, age, count, context, day, labels, user = zip(*self.rows)
        ptr = np.zeros(len(labels) + 1, np.int64)
        ptr[1:] = np.cumsum([len(x) for x in labels])
        return Examples(np.stack(hist), np.stack(age), np.stack(count), np.stack(context),
                        np.array(day, np.int32), ptr, np.concatenate(labels), np.array(user, np.int32))


def _trend_table(day: np.ndarray, basket: np.ndarray, item: np.ndarray, n_items: int) -> np.ndarray:
    """Row d: the trailing-window prior of day d (``cloud.data.popularity``), for every day at once."""
    n_days = int(day.max()) + 2
    pairs = pd.DataFrame({"day": day, "basket": basket, "item": item}).drop_duplicates(["basket", "item"])
    daily = np.zeros((n_days, n_items), np.float32)
    np.add.at(daily, (pairs["day"].to_numpy(), pairs["item"].to_numpy()), 1.0)
    cumulative = np.vstack([np.zeros((1, n_items), np.float32), np.cumsum(daily, axis=0)])
    rows = np.arange(n_days)
    return relative_log_counts(cumulative[rows] - cumulative[np.maximum(rows - WINDOW_DAYS, 0)])


def _fingerprint(frame: pd.DataFrame, split: SplitDates, history_len: int) -> str:
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(frame[["user", "item", "basket", "time", "quantity"]], index=False).to_numpy().tobytes())
    digest.update(f"{split.validation_start.isoformat()}|{split.test_start.isoformat()}|{history_len}".encode())
    return digest.hexdigest()
