"""Flags derived from a settings class: defaults and help in --help, only the flags given passed on."""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

import click
import pytest
from click.testing import CliRunner
from pydantic import Field, PositiveInt
from pydantic_settings import SettingsConfigDict

from core.settings import ProgramSettings
from splitrank._flags import settings_flags
from splitrank.cli import run_agent, serve_cloud, train


class Example(ProgramSettings):
    model_config = SettingsConfigDict(env_prefix="SPLITRANK_TEST_")
    toml_table: ClassVar[str] = "test"

    epochs: PositiveInt = Field(3, description="Epochs to train.")
    rate: float = Field(0.5, description="Learning rate.")
    limit: PositiveInt | None = Field(None, description="At most this many.")
    mode: Literal["fast", "slow"] = Field("fast", description="Mode.")


@click.command()
@settings_flags(Example, "epochs", "rate", "limit", "mode")
def show(**flags: Any) -> None:
    click.echo(json.dumps(Example.load(None, flags).model_dump()))


def test_help_shows_description_default_and_env() -> None:
    text = CliRunner().invoke(show, ["--help"], terminal_width=200).output
    assert "--epochs INTEGER" in text and "Epochs to train. [default: 3; env SPLITRANK_TEST_EPOCHS]" in text
    assert "--limit INTEGER" in text and "At most this many. [env SPLITRANK_TEST_LIMIT]" in text
    assert "--mode [fast|slow]" in text


def test_only_given_flags_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITRANK_TEST_RATE", "0.2")
    assert json.loads(CliRunner().invoke(show, []).output) == {"epochs": 3, "rate": 0.2, "limit": None, "mode": "fast"}
    assert json.loads(CliRunner().invoke(show, ["--rate", "0.9", "--limit", "4"]).output)["rate"] == 0.9
    assert CliRunner().invoke(show, ["--mode", "medium"]).exit_code == 2


def test_program_commands_show_their_defaults() -> None:  # the commands themselves: the group would load TensorFlow first
    runner = CliRunner()
    assert "[default: 50061; env SPLITRANK_AGENT_PORT]" in runner.invoke(run_agent, ["--help"], terminal_width=200).output
    assert "[default: 50051; env SPLITRANK_CLOUD_PORT]" in runner.invoke(serve_cloud, ["--help"], terminal_width=200).output
    assert "[default: 3; env SPLITRANK_TRAIN_TEACHER_EPOCHS]" in runner.invoke(train, ["--help"], terminal_width=200).output


def test_bad_flag_and_env_values_name_their_source(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    result = runner.invoke(run_agent, ["--port", "70000"])
    assert result.exit_code == 2 and "'port' from flag --port: Input should be less than or equal to 65535" in result.output
    monkeypatch.setenv("SPLITRANK_CLOUD_MAX_BATCH_SIZE", "0")
    result = runner.invoke(serve_cloud, [])
    assert result.exit_code == 2 and "'max_batch_size' from env SPLITRANK_CLOUD_MAX_BATCH_SIZE" in result.output
