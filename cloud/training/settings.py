"""Settings of ``splitrank train``: one frozen class, read from ``[train]``, ``SPLITRANK_TRAIN_*`` and flags.
Light to import (no TensorFlow, no pandas): the CLI derives its flags from it."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator
from pydantic_settings import SettingsConfigDict

from core.bundle import DEFAULT_REPOSITORY
from core.settings import Fraction, ProgramSettings


class TrainSettings(ProgramSettings):
    """Everything ``splitrank train`` can be told: TOML table ``[train]``, env ``SPLITRANK_TRAIN_<NAME>``, flags.
    Defaults train on the full real set."""

    model_config = SettingsConfigDict(env_prefix="SPLITRANK_TRAIN_")
    toml_table: ClassVar[str] = "train"

    data: str | None = Field(None, description="Online Retail file or folder, or an interactions CSV of your own (with user_col etc.); "
                                               "unset: $SPLITRANK_DATA, then shared/data when present.")
    user_col: str | None = Field(None, description="Your CSV: the customer column (makes data a generic interactions CSV).")
    item_col: str | None = Field(None, description="Your CSV: the item column.")
    time_col: str | None = Field(None, description="Your CSV: the timestamp column.")
    basket_col: str | None = Field(None, description="Your CSV: the order/basket column; unset: one basket per user and timestamp.")
    quantity_col: str | None = Field(None, description="Your CSV: optional quantity column (rows with quantity <= 0 are dropped).")
    price_col: str | None = Field(None, description="Your CSV: optional unit price column (rows with price <= 0 are dropped).")
    rating_col: str | None = Field(None, description="Your CSV: optional explicit rating column (numeric).")
    min_rating: float | None = Field(None, description="Your CSV: keep only rows rated at least this (needs rating_col).")
    time_format: Literal["auto", "iso", "unix_s", "unix_ms"] = Field(
        "auto", description="Your CSV: how time_col is written; auto detects ISO dates, unix seconds or milliseconds from the values.")
    repository: Path = Field(DEFAULT_REPOSITORY, description="Model repository to add the bundle to.")
    history_len: PositiveInt = Field(64, description="Most recent purchases a history keeps.")
    max_examples: PositiveInt | None = Field(None, description="Use at most this many examples per split (quick runs).")
    teacher_epochs: PositiveInt = Field(3, description="Teacher epochs (early stopping on validation NDCG@10).")
    student_epochs: PositiveInt = Field(4, description="Student epochs.")
    reranker_epochs: PositiveInt = Field(6, description="Split reranker epochs.")
    teacher_learning_rate: PositiveFloat = Field(2e-4, description="Teacher Adam learning rate.")
    student_learning_rate: PositiveFloat = Field(5e-4, description="Student Adam learning rate.")
    batch_size: PositiveInt = Field(256, description="Training batch size.")
    distill_weight: Fraction = Field(0.5, description="Weight of the teacher's soft labels in the student's loss.")
    prune_sparsity: float = Field(0.5, ge=0.0, lt=1.0, description="Share of weights the pruned edge model sets to zero.")
    seed: int = Field(7, description="Random seed (fixed by default, so runs repeat).")
    teacher_latency_samples: PositiveInt = Field(30, description="Timed teacher calls for the latency figure.")
    full_softmax_max_items: PositiveInt = Field(20_000, description="Above this catalogue size the teacher and student train "
                                                                    "with a sampled softmax.")
    sampled_negatives: PositiveInt = Field(2048, description="Uniformly sampled items per batch of a sampled softmax "
                                                             "(beside the batch's own basket items).")
    reranker_examples: PositiveInt = Field(100_000, description="Training examples the split reranker learns from "
                                                                "(a seeded sample when there are more).")
    eval_examples: PositiveInt | None = Field(None, description="Score at most this many validation and test examples "
                                                                "(a seeded sample); training always uses every example.")

    @model_validator(mode="after")
    def _own_csv_names_its_columns(self) -> TrainSettings:
        named = (self.user_col, self.item_col, self.time_col)
        if any(named) and not all(named):
            raise ValueError("a CSV of your own needs all of user_col, item_col and time_col (flags --user-col, --item-col, --time-col)")
        if self.min_rating is not None and self.rating_col is None:
            raise ValueError("--min-rating needs the column that holds the ratings (--rating-col)")
        return self

    @property
    def own_csv(self) -> bool:
        """True when ``data`` is an interactions CSV of your own (its columns are named)."""
        return self.user_col is not None
