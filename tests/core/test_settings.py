"""Settings layer TOML < env < flags, and reject what they do not understand."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings


@dataclass(frozen=True)
class Example:
    epochs: int = 1
    rate: float = 0.5
    name: str | None = None


def test_layers_override_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "s.toml"
    config.write_text("[train]\nepochs = 3\nrate = 0.1\nname = 'file'\n")
    monkeypatch.setenv("SPLITRANK_RATE", "0.2")
    settings = load_settings(Example, section="train", config=config, flags={"name": "flag", "epochs": None})
    assert settings == Example(epochs=3, rate=0.2, name="flag")


def test_unknown_key_and_bad_value_are_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "s.toml"
    config.write_text("[train]\nepoch = 3\n")
    with pytest.raises(SettingsError, match="unknown keys"):
        load_settings(Example, section="train", config=config)
    monkeypatch.setenv("SPLITRANK_EPOCHS", "many")
    with pytest.raises(SettingsError, match="'epochs' must be int"):
        load_settings(Example, section="train")
    config.write_text("[train\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(Example, section="train", config=config)
