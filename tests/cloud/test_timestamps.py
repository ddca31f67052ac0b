"""Timestamps in the formats logs use, detected from the values or named, and a clear error otherwise."""

from __future__ import annotations

import pandas as pd
import pytest

from cloud.data import DataError
from cloud.data.timestamps import parse_times

WHEN = pd.Timestamp("2013-03-01 12:30:00")


@pytest.mark.parametrize("values", [["2013-03-01T12:30:00", "2013-03-02 08:00"], ["1362141000", "1362211200"],
                                    ["1362141000000", "1362211200000"]])
def test_detects_iso_seconds_and_milliseconds(values: list[str]) -> None:
    times = parse_times(pd.Series(values), column="ts", source="log.csv")
    assert times.iloc[0] == WHEN
    assert times.iloc[1] == pd.Timestamp("2013-03-02 08:00")


def test_named_format_is_used() -> None:
    assert parse_times(pd.Series(["1362141000"]), "unix_s", column="ts", source="x").iloc[0] == WHEN
    with pytest.raises(DataError, match=r"tried unix_ms\b"):
        parse_times(pd.Series(["1362141000"]), "unix_ms", column="ts", source="x")


def test_unknown_format_names_row_value_and_formats_tried() -> None:
    # rows count as the file's lines: the header is row 1
    with pytest.raises(DataError, match=r"log.csv: column 'ts' row 4 has 'yesterday'.*tried iso, unix_s, unix_ms"):
        parse_times(pd.Series(["2013-03-01", "2013-03-02", "yesterday"]), column="ts", source="log.csv")
    with pytest.raises(DataError, match=r"row 2 has '12'"):  # a number far outside unix time
        parse_times(pd.Series(["12", "1362141000"]), column="ts", source="log.csv")
    with pytest.raises(DataError, match="unknown time format 'days'"):
        parse_times(pd.Series(["1"]), "days", column="ts", source="x")


def test_timezone_offsets_become_utc() -> None:
    assert parse_times(pd.Series(["2013-03-01T13:30:00+01:00"]), column="ts", source="x").iloc[0] == WHEN
