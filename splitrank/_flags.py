"""Command-line flags derived from a program's settings class, so each default and help text is stated
once (in the class's ``Field``). A flag the user leaves out arrives as None, and ``Cls.load`` drops it:
the file and the environment then decide."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic.fields import FieldInfo

from core.settings import ProgramSettings

F = TypeVar("F", bound=Callable[..., Any])


def settings_flags(cls: type[ProgramSettings], *names: str) -> Callable[[F], F]:
    """Click options ``--field-name`` for these fields of ``cls``, in this order: typed from the field's
    annotation (a Literal becomes a choice), help from its description, then its default and env variable."""
    def decorate(command: F) -> F:
        for name in reversed(names):
            command = _option(cls, name)(command)
        return command

    return decorate


def _option(cls: type[ProgramSettings], name: str) -> Callable[[F], F]:
    field = cls.model_fields[name]
    notes = [f"default: {field.default}"] if field.default not in ("", None) else []
    notes.append(f"env {cls.env_name(name)}")
    help_text = f"{field.description or ''} [{'; '.join(notes)}]".strip()
    return click.option(f"--{name.replace('_', '-')}", name, type=_click_type(field), default=None, help=help_text)


def _click_type(field: FieldInfo) -> Any:
    kind = field.annotation
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if typing.get_origin(kind) is typing.Annotated:  # a constrained type inside Optional, e.g. PositiveInt | None
        kind = typing.get_args(kind)[0]
    if typing.get_origin(kind) is typing.Literal:
        return click.Choice([str(choice) for choice in typing.get_args(kind)])
    if kind is Path:
        return click.Path(path_type=Path)
    if kind in (int, float, bool):
        return kind
    return str
