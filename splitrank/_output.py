"""How commands print a result: one JSON object, or one ``key: value`` line per figure."""

from __future__ import annotations

import json
from typing import Any

import click


def emit(result: dict[str, Any], fmt: str) -> None:
    """``fmt`` is ``json`` or ``table``; nested values are left to the JSON form."""
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        if isinstance(value, dict | list):
            continue
        click.echo(f"{key:>28}: {value:.4f}" if isinstance(value, float) else f"{key:>28}: {value}")
