"""Interaction data: loading, cleaning, temporal splits and evaluation examples."""

from cloud.data.errors import DataError
from cloud.data.loader import ColumnMap, load_interactions_csv, load_online_retail, resolve_data_path

__all__ = ["ColumnMap", "DataError", "load_interactions_csv", "load_online_retail", "resolve_data_path"]
