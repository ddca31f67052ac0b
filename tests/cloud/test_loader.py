"""Loading real-format files, and clear errors for every kind of bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from cloud.data import ColumnMap, DataError, load_interactions_csv, load_online_retail, resolve_data_path

HEADER = "invoice,stock_code,description,quantity,invoice_date,unit_price,customer_id,country\n"


def _write(path: Path, text: str) -> Path:
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    return path


def test_loads_synthetic_online_retail(synthetic_data: Path) -> None:
    frame = load_online_retail(synthetic_data)
    assert list(frame.columns) == ["user", "item", "basket", "time", "quantity", "price", "description"]
    assert len(frame) > 1000 and frame["time"].notna().all()


def test_resolves_folder_and_env(synthetic_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = synthetic_data.parent.parent
    assert resolve_data_path(folder) == synthetic_data
    monkeypatch.setenv("SPLITRANK_DATA", str(folder))
    assert resolve_data_path() == synthetic_data


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        resolve_data_path(tmp_path / "nothing-here")


def test_corrupt_gzip_is_reported(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.csv.gz", HEADER + "536365,85123A,X,6,2010-12-01T08:26:00,2.55,17850,UK\n").read_bytes()
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="cannot be read"):
        load_online_retail(bad)


def test_wrong_columns_are_listed(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv.gz", "a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match=r"missing columns \['invoice'"):
        load_online_retail(path)


def test_non_numeric_quantity_names_row_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv.gz", HEADER + "536365,85123A,X,six,2010-12-01T08:26:00,2.55,17850,UK\n")
    with pytest.raises(DataError, match=r"'quantity' must be numeric, row 2 has 'six'"):
        load_online_retail(path)


def test_bad_date_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv.gz", HEADER + "536365,85123A,X,6,yesterday,2.55,17850,UK\n")
    with pytest.raises(DataError, match="invoice_date. row 2 has .yesterday., a timestamp in no known format .tried iso"):
        load_online_retail(path)


def test_header_only_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no rows"):
        load_online_retail(_write(tmp_path / "x.csv.gz", HEADER))


def test_generic_csv_with_column_map(tmp_path: Path) -> None:
    path = tmp_path / "logs.csv"
    path.write_text("uid,sku,ts,qty\nu1,a,2024-01-01 10:00,1\nu1,b,2024-01-01 10:00,2\nu2,a,2024-01-02 11:00,1\n")
    frame = load_interactions_csv(path, ColumnMap(user="uid", item="sku", time="ts", quantity="qty"))
    assert frame["basket"].nunique() == 2
    assert frame["quantity"].tolist() == [1.0, 2.0, 1.0]
    with pytest.raises(DataError, match=r"missing columns \['price'\]"):
        load_interactions_csv(path, ColumnMap(user="uid", item="sku", time="ts", price="price"))


def test_own_log_with_unix_seconds_ratings_and_string_ids(tmp_path: Path) -> None:
    from cloud.data.cleaning import clean_interactions

    path = tmp_path / "ratings.csv"
    path.write_text("user_id,item_id,timestamp,rating\n7,0104257,1362141000,9\n7,0000001,1362211200,2\n8,0104257,1362297600,7\n")
    frame = load_interactions_csv(path, ColumnMap(user="user_id", item="item_id", time="timestamp", rating="rating"))
    assert frame["item"].tolist() == ["0104257", "0000001", "0104257"]  # leading zeros kept
    assert str(frame["time"].iloc[0]) == "2013-03-01 12:30:00"
    cleaned, report = clean_interactions(frame, product_codes_only=False, min_rating=5)
    assert report.dropped["below_min_rating"] == 1 and cleaned["rating"].min() >= 5
