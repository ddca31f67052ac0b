"""Timestamps as logs hold them: ISO 8601 dates (or other date text), unix seconds or unix milliseconds.

``parse_times`` detects the format from the values (mostly numbers: seconds or milliseconds by magnitude;
otherwise dates) or takes it by name, and returns naive UTC datetimes. A value in no known format is a
``DataError`` naming its row, the value and the formats tried.
"""

from __future__ import annotations

import pandas as pd

from cloud.data.errors import DataError

TIME_FORMATS = ("iso", "unix_s", "unix_ms")
"""Names ``--time-format`` accepts (besides ``auto``)."""
UNIX_S_RANGE = (1e8, 1e11)
"""Unix seconds between 1973 and 5138; numbers from 1e11 to 1e14 are read as milliseconds."""
UNIX_MS_RANGE = (1e11, 1e14)


def parse_times(raw: pd.Series, fmt: str = "auto", *, column: str, source: str) -> pd.Series:
    """Parse a column of timestamp text into datetime64 (naive, UTC); ``fmt`` is ``auto`` or one of TIME_FORMATS."""
    if fmt != "auto" and fmt not in TIME_FORMATS:
        raise DataError(f"unknown time format {fmt!r}; choose auto or one of {', '.join(TIME_FORMATS)}")
    text = raw.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    tried = (fmt,) if fmt != "auto" else TIME_FORMATS
    if fmt == "auto":
        fmt = _detect(numbers)
    if fmt == "iso":
        times = pd.to_datetime(text.where(numbers.isna()), errors="coerce", format="mixed", utc=True).dt.tz_convert(None)
    else:
        lo, hi = UNIX_S_RANGE if fmt == "unix_s" else UNIX_MS_RANGE
        in_range = numbers.between(lo, hi)
        times = pd.to_datetime(numbers.where(in_range), unit="s" if fmt == "unix_s" else "ms", errors="coerce")
    bad = times.isna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise DataError(
            f"{source}: column '{column}' row {row + 2} has {raw.iloc[row]!r}, a timestamp in no known format "
            f"(tried {', '.join(tried)}; unix seconds must lie in {UNIX_S_RANGE[0]:.0e}..{UNIX_S_RANGE[1]:.0e}, "
            f"milliseconds in {UNIX_MS_RANGE[0]:.0e}..{UNIX_MS_RANGE[1]:.0e}; {int(bad.sum())} bad values in all). "
            "Name the format with --time-format."
        )
    return times


def _detect(numbers: pd.Series) -> str:
    """Unix time when most values are numbers (seconds or milliseconds by the median's magnitude), else dates;
    the values that do not fit are then the ones the error names."""
    if numbers.notna().mean() < 0.5:
        return "iso"
    return "unix_ms" if float(numbers.median()) >= UNIX_MS_RANGE[0] else "unix_s"
