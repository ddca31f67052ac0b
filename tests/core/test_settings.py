"""Settings: TOML < env < flags, one env prefix per program, and errors that name the key and its source."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import pytest
from pydantic import Field, PositiveInt
from pydantic_settings import SettingsConfigDict

from cloud.serving.settings import ServeSettings
from core.settings import ProgramSettings, SettingsError
from edge.settings import AgentSettings


class Example(ProgramSettings):
    model_config = SettingsConfigDict(env_prefix="SPLITRANK_TEST_")
    toml_table: ClassVar[str] = "train"

    epochs: PositiveInt = Field(1, description="Epochs.")
    rate: float = Field(0.5, description="Rate.")
    name: str | None = Field(None, description="Name.")
    mode: Literal["fast", "slow"] = Field("fast", description="Mode.")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "s.toml"
    path.write_text("[train]\nepochs = 3\nrate = 0.1\nname = 'file'\n[serve]\nport = 1\n")
    return path


def test_layers_override_in_order(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Example.load(config) == Example(epochs=3, rate=0.1, name="file")
    monkeypatch.setenv("SPLITRANK_TEST_RATE", "0.2")
    monkeypatch.setenv("SPLITRANK_TEST_NAME", "env")
    settings = Example.load(config, {"name": "flag", "epochs": None})
    assert settings == Example(epochs=3, rate=0.2, name="flag")  # file epochs, env rate, flag name; a None flag is "not given"
    assert Example.load(None, {"rate": 0.9}).rate == 0.9


def test_direct_construction_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITRANK_TEST_EPOCHS", "5")
    assert Example().epochs == 1
    assert Example.load().epochs == 5


def test_settings_are_immutable() -> None:
    with pytest.raises(ValueError, match="frozen"):
        Example().epochs = 2  # type: ignore[misc]


def test_each_program_has_its_own_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITRANK_AGENT_PORT", "6000")
    monkeypatch.setenv("SPLITRANK_PORT", "7000")  # the old shared name moves nothing
    assert AgentSettings.load().port == 6000
    assert ServeSettings.load().port == ServeSettings().port == 50051
    monkeypatch.setenv("SPLITRANK_CLOUD_PORT", "6001")
    assert ServeSettings.load().port == 6001 and AgentSettings.load().port == 6000


def test_bad_value_names_key_and_source(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match=r"'epochs' from flag --epochs: Input should be greater than 0 \(got 0\)"):
        Example.load(None, {"epochs": 0})
    monkeypatch.setenv("SPLITRANK_TEST_EPOCHS", "many")
    with pytest.raises(SettingsError, match=r"'epochs' from env SPLITRANK_TEST_EPOCHS: Input should be a valid integer.*'many'"):
        Example.load(config)
    monkeypatch.delenv("SPLITRANK_TEST_EPOCHS")
    config.write_text("[train]\nmode = 'medium'\n")
    with pytest.raises(SettingsError, match=rf"'mode' from {config} \[train\]: Input should be 'fast' or 'slow'"):
        Example.load(config)


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        AgentSettings.load(None, {"port": 70000, "policy": "always", "target_cloud_fraction": 1.5})
    message = str(caught.value)
    for key in ("'port' from flag --port", "'policy' from flag --policy", "'target_cloud_fraction' from flag --target-cloud-fraction"):
        assert key in message


def test_unknown_keys_are_errors(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_text("[train]\nepoch = 3\n")
    with pytest.raises(SettingsError, match=r"unknown keys \['epoch'\] in \[train\]; known: \['epochs'"):
        Example.load(config)
    monkeypatch.setenv("SPLITRANK_TEST_EPOCH", "3")
    with pytest.raises(SettingsError, match="SPLITRANK_TEST_EPOCH: unknown setting 'epoch'"):
        Example.load()


def test_unusable_files_are_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[train\n")
    with pytest.raises(SettingsError, match=r"broken.toml: not valid TOML"):
        Example.load(broken)
    with pytest.raises(SettingsError, match=r"missing.toml: no such settings file"):
        Example.load(tmp_path / "missing.toml")
    broken.write_text("train = 3\n")
    with pytest.raises(SettingsError, match=r"'train' must be a table"):
        Example.load(broken)


def test_empty_env_value_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITRANK_TEST_EPOCHS", "")
    assert Example.load().epochs == 1
