"""Fetch UCI Online Retail for users whose machine has no ``shared/data`` copy (needs internet).

The UCI archive holds an Excel file; it is converted to the gzip CSV layout that
``cloud.data.loader`` reads (columns as documented in the README's data section).
"""

from __future__ import annotations

import io
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from cloud.data.errors import DataError

UCI_URL = "https://archive.ics.uci.edu/static/public/352/online+retail.zip"


def download_online_retail(target: Path, *, url: str = UCI_URL, echo: Callable[[str], None] = print) -> Path:
    """Download, convert and write ``target/online_retail/online_retail.csv.gz``; returns its path."""
    echo(f"downloading {url}")
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            archive = zipfile.ZipFile(io.BytesIO(response.read()))
    except OSError as err:
        raise DataError(f"download of {url} failed: {err}") from err
    sheet = next((n for n in archive.namelist() if n.endswith(".xlsx")), None)
    if sheet is None:
        raise DataError(f"{url}: the archive holds no .xlsx file ({archive.namelist()})")
    echo("converting (this takes a minute)")
    raw = pd.read_excel(archive.open(sheet), dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str})
    frame = pd.DataFrame({
        "invoice": raw["InvoiceNo"], "stock_code": raw["StockCode"], "description": raw["Description"].fillna(""),
        "quantity": raw["Quantity"], "invoice_date": pd.to_datetime(raw["InvoiceDate"]).dt.strftime("%Y-%m-%dT%H:%M:%S"),
        "unit_price": raw["UnitPrice"], "customer_id": raw["CustomerID"].fillna("").str.replace(r"\.0$", "", regex=True),
        "country": raw["Country"],
    })
    out = target / "online_retail" / "online_retail.csv.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, compression="gzip")
    return out
