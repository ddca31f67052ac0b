"""Load purchase interactions into one canonical frame.

Canonical columns: ``user``, ``item``, ``basket``, ``time`` (datetime64), ``quantity`` and ``price``
(floats), ``description`` (text, may be empty). Two sources: the UCI Online Retail file shipped in
``../shared/data`` (or downloaded, see the README), and any interactions CSV a company brings.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cloud.data.errors import DataError
from cloud.data.timestamps import parse_times

DATA_ENV_VAR = "SPLITRANK_DATA"
ONLINE_RETAIL_FILE = Path("online_retail") / "online_retail.csv.gz"
ONLINE_RETAIL_COLUMNS = ("invoice", "stock_code", "description", "quantity", "invoice_date", "unit_price", "customer_id")


def resolve_data_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Find the Online Retail file: an explicit path, else ``$SPLITRANK_DATA``, else ``shared/data``
    in this directory or one of its parents. A directory is searched for ``online_retail/online_retail.csv.gz``."""
    candidates: list[Path] = []
    if path is not None:
        candidates.append(Path(path))
    elif os.environ.get(DATA_ENV_VAR):
        candidates.append(Path(os.environ[DATA_ENV_VAR]))
    else:
        here = Path.cwd().resolve()
        candidates += [parent / "shared" / "data" for parent in (here, *here.parents)]
        candidates += [parent / "shared" / "data" for parent in Path(__file__).resolve().parents]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
        for inner in (candidate / ONLINE_RETAIL_FILE, candidate / ONLINE_RETAIL_FILE.name):
            if inner.is_file():
                return inner
    where = ", ".join(str(c) for c in candidates[:3])
    raise DataError(
        f"Online Retail data not found (looked in {where}). Pass --data PATH, set {DATA_ENV_VAR}, "
        "or download it with `splitrank data download` (see README)."
    )


def _read_csv(path: Path, usecols: list[str] | None = None) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=usecols)
    except ValueError as err:  # usecols mismatch is reported as ValueError by pandas
        raise DataError(f"{path}: {err}") from err
    except (OSError, EOFError, zlib.error, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot be read as CSV ({type(err).__name__}: {err})") from err
    if frame.empty:
        raise DataError(f"{path}: has a header but no rows")
    return frame


def _numeric(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
    bad = values.isna() & (frame[column].str.strip() != "")
    if bad.any():
        row = int(bad.idxmax())
        raise DataError(
            f"{path}: column '{column}' must be numeric, row {row + 2} has {frame[column].iloc[row]!r} "
            f"({int(bad.sum())} bad values in all)"
        )
    return values.astype("float64")


def load_online_retail(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Read UCI Online Retail into the canonical frame, uncleaned (see ``cloud.data.cleaning``)."""
    resolved = resolve_data_path(path)
    header = _read_header(resolved)
    missing = [c for c in ONLINE_RETAIL_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{resolved}: not an Online Retail file, missing columns {missing} (has {header})")
    raw = _read_csv(resolved, usecols=list(ONLINE_RETAIL_COLUMNS))
    frame = pd.DataFrame(
        {
            "user": raw["customer_id"].str.strip(),
            "item": raw["stock_code"].str.strip(),
            "basket": raw["invoice"].str.strip(),
            "time": parse_times(raw["invoice_date"], "iso", column="invoice_date", source=str(resolved)),
            "quantity": _numeric(raw, "quantity", resolved),
            "price": _numeric(raw, "unit_price", resolved),
            "description": raw["description"].str.strip(),
        }
    )
    frame.attrs["source"] = str(resolved)
    return frame


@dataclass(frozen=True)
class ColumnMap:
    """Which columns of a user's CSV hold what, and how to read them. ``basket`` defaults to one basket per
    user and timestamp; ``time_format`` is ``auto`` (detected from the values) or one of ``TIME_FORMATS``;
    ``rating`` becomes the frame's ``rating`` column (cleaning can keep only positive ratings)."""

    user: str
    item: str
    time: str
    basket: str | None = None
    quantity: str | None = None
    price: str | None = None
    rating: str | None = None
    time_format: str = "auto"


def load_interactions_csv(path: str | os.PathLike[str], columns: ColumnMap) -> pd.DataFrame:
    """Read any interactions CSV (a company's own logs) into the canonical frame."""
    resolved = Path(path)
    header = _read_header(resolved)
    wanted = [c for c in (columns.user, columns.item, columns.time, columns.basket, columns.quantity, columns.price, columns.rating) if c]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(f"{resolved}: missing columns {missing}; the file has {header}")
    raw = _read_csv(resolved, usecols=wanted)
    times = parse_times(raw[columns.time], columns.time_format, column=columns.time, source=str(resolved))
    users = raw[columns.user].str.strip()
    baskets = raw[columns.basket].str.strip() if columns.basket else users + "@" + times.astype(str)
    frame = pd.DataFrame(
        {
            "user": users,
            "item": raw[columns.item].str.strip(),
            "basket": baskets,
            "time": times,
            "quantity": _numeric(raw, columns.quantity, resolved) if columns.quantity else 1.0,
            "price": _numeric(raw, columns.price, resolved) if columns.price else 1.0,
            "description": "",
        }
    )
    if columns.rating:
        frame["rating"] = _numeric(raw, columns.rating, resolved)
    frame.attrs["source"] = str(resolved)
    return frame


def _read_header(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        return list(pd.read_csv(path, dtype=str, nrows=0).columns)
    except (OSError, EOFError, zlib.error, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot be read as CSV ({type(err).__name__}: {err})") from err
