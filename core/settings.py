"""One settings mechanism for every program: a TOML file's table, then environment variables with the
program's prefix, then flags, later layers winning. Each program has one frozen ``ProgramSettings`` class
(pydantic-settings) that states every default, constraint and help text once.

``Cls.load(config, flags)`` is how a program starts: it reads all three layers and validates them, and
any problem becomes one ``SettingsError`` naming the key, where the value came from and what is wrong.
Constructing ``Cls(...)`` directly takes only the given values (tests, in-process use): it still
validates, but reads no file and no environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

if sys.version_info >= (3, 11):
    from typing import Self

    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib
    from typing_extensions import Self

Port = Annotated[int, Field(ge=0, le=65535)]
"""A TCP port; 0 asks the OS for a free one."""
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
"""A share between 0 and 1."""


class SettingsError(ValueError):
    """A settings file or value is unusable; the message names the key, its source and what is wrong."""


class ProgramSettings(BaseSettings):
    """Base of each program's settings. A subclass sets ``toml_table`` and ``env_prefix``, and declares
    its fields with ``Field(default=..., description=...)``: the CLI derives its flags from them."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", case_sensitive=False, env_ignore_empty=True)
    toml_table: ClassVar[str]

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        """Direct construction takes only its arguments; ``load`` adds the file and the environment."""
        return (init_settings,)

    @classmethod
    def env_name(cls, key: str) -> str:
        """The environment variable that sets ``key``, e.g. ``SPLITRANK_AGENT_PORT``."""
        return f"{cls.model_config.get('env_prefix', '')}{key}".upper()

    @classmethod
    def load(cls, config: Path | None = None, flags: Mapping[str, Any] | None = None) -> Self:
        """Settings from ``[toml_table]`` of ``config`` (when given), then the environment, then ``flags``
        (entries that are None were not given and are left out). Raises ``SettingsError``."""
        table = _read_table(config, cls.toml_table, set(cls.model_fields)) if config is not None else {}
        env = _prefixed_environment(cls)
        given = {key: value for key, value in (flags or {}).items() if value is not None}
        sources = (InitSettingsSource(cls, given), EnvSettingsSource(cls), InitSettingsSource(cls, table))
        try:
            return cls(_build_sources=(sources, given))  # type: ignore[call-arg]  # BaseSettings takes prepared sources; mypy sees only the fields
        except ValidationError as err:
            def source(key: str) -> str:
                if key in given:
                    return f"flag --{key.replace('_', '-')}"
                if key in env:
                    return f"env {env[key]}"
                if key in table:
                    return f"{config} [{cls.toml_table}]"
                return "default"

            problems = [_describe(error, source) for error in err.errors()]
            raise SettingsError("; ".join(problems)) from None


def _describe(error: ErrorDetails, source: Callable[[str], str]) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:  # a check across several keys
        return message
    key = str(error["loc"][0])
    return f"{key!r} from {source(key)}: {message} (got {error['input']!r})"


def _read_table(config: Path, table: str, known: set[str]) -> dict[str, Any]:
    try:
        document = tomllib.loads(Path(config).read_text())
    except FileNotFoundError:
        raise SettingsError(f"{config}: no such settings file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(f"{config}: cannot read ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"{config}: not valid TOML ({err})") from None
    values = document.get(table, {})
    if not isinstance(values, dict):
        raise SettingsError(f"{config}: '{table}' must be a table ([{table}]), got {values!r}")
    unknown = sorted(set(values) - known)
    if unknown:
        raise SettingsError(f"{config}: unknown keys {unknown} in [{table}]; known: {sorted(known)}")
    return values


def _prefixed_environment(cls: type[ProgramSettings]) -> dict[str, str]:
    """Field name -> the variable that sets it, for the variables with this program's prefix. An unknown
    name under the prefix is an error: a typo would otherwise be ignored without a word."""
    prefix = cls.env_name("")
    found: dict[str, str] = {}
    for name in os.environ:
        if name.upper().startswith(prefix) and os.environ[name] != "":
            key = name.upper().removeprefix(prefix).lower()
            if key not in cls.model_fields:
                raise SettingsError(f"{name}: unknown setting '{key}' for [{cls.toml_table}]; known: {sorted(cls.model_fields)}")
            found[key] = name
    return found
