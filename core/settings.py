"""Settings for every program from three layers: a TOML file, ``SPLITRANK_*`` environment variables,
and command-line flags, later layers winning. Each program has one frozen dataclass of settings."""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

T = TypeVar("T")


class SettingsError(ValueError):
    """A settings file or value is unusable; the message names the key and the source."""


def _coerce(name: str, raw: Any, kind: Any, source: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if raw is None or raw == "":
            return None
        kind = options[0]
    try:
        if kind is bool and isinstance(raw, str):
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes")
        if kind in (int, float, str, Path):
            return kind(raw)
    except (TypeError, ValueError) as err:
        raise SettingsError(f"{source}: '{name}' must be {getattr(kind, '__name__', kind)}, got {raw!r}") from err
    return raw


def load_settings(cls: type[T], *, section: str, config: Path | None = None, flags: dict[str, Any] | None = None) -> T:
    """Build ``cls`` from ``[section]`` of a TOML file, then ``SPLITRANK_<FIELD>`` env vars, then flags
    (flags that are None are left out). Unknown keys in the file are an error, not silently ignored."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    if config is not None:
        try:
            table = tomllib.loads(Path(config).read_text()).get(section, {})
        except FileNotFoundError as err:
            raise SettingsError(f"{config}: no such settings file") from err
        except tomllib.TOMLDecodeError as err:
            raise SettingsError(f"{config}: not valid TOML ({err})") from err
        unknown = sorted(set(table) - set(fields))
        if unknown:
            raise SettingsError(f"{config}: unknown keys {unknown} in [{section}]; known: {sorted(fields)}")
        values.update({k: _coerce(k, v, hints[k], str(config)) for k, v in table.items()})
    for name in fields:
        env = os.environ.get(f"SPLITRANK_{name.upper()}")
        if env is not None:
            values[name] = _coerce(name, env, hints[name], f"SPLITRANK_{name.upper()}")
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = _coerce(name, value, hints[name], f"--{name.replace('_', '-')}")
    return cls(**values)
