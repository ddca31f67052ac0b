"""Files the programs load, fed hostile content: each loader accepts it or raises its own error type with
a message, never anything else, and what it accepted never fails later at request time."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.bundle import MANIFEST, BundleError, load_manifest
from core.settings import SettingsError
from edge.history_store import HistoryStore
from edge.settings import AgentSettings

JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=20)
USERS = st.dictionaries(st.text(max_size=6), st.fixed_dictionaries({}, optional={
    "baskets": JSON, "last_unix_s": JSON, "items": st.dictionaries(st.text(max_size=6), st.lists(JSON, max_size=3) | JSON, max_size=3) | JSON}),
    max_size=3)
HISTORY_FILES = st.one_of(st.binary(max_size=200), JSON.map(lambda value: json.dumps(value).encode()),
                          USERS.map(lambda users: json.dumps({"users": users}).encode()))
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def _write(content: bytes, name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="splitrank-hostile-"))
    (folder / name).write_bytes(content)
    return folder / name


@FUZZ
@given(content=HISTORY_FILES)
def test_history_files_load_or_are_refused_and_loaded_ones_answer(content: bytes) -> None:
    path = _write(content, "histories.json")
    try:
        store = HistoryStore(path)
    except ValueError as err:
        assert str(path) in str(err)
        return
    for user in [*json.loads(content)["users"], "nobody"]:
        state = store.state(user, 1_700_000_000.0)
        assert state.previous_baskets >= 0 and math.isfinite(state.days_since_last_basket)
        assert all(math.isfinite(e.age_days) and e.age_days >= 0 and e.count >= 1 for e in state.history)


@FUZZ
@given(content=st.one_of(st.binary(max_size=200), JSON.map(lambda value: json.dumps(value).encode()),
                         st.dictionaries(st.sampled_from(["version", "created", "files", "models", "format", "data"]), JSON)
                         .map(lambda value: json.dumps(value).encode())))
def test_manifests_load_or_raise_bundle_error(content: bytes) -> None:
    path = _write(content, MANIFEST)
    try:
        load_manifest(path.parent)
    except BundleError:
        pass


@FUZZ
@given(content=st.one_of(st.binary(max_size=200), st.dictionaries(st.sampled_from(["port", "cloud", "policy", "k", "cloud_tls", "threads"]),
                                                                   JSON, max_size=3).map(lambda table: _toml(table).encode())))
def test_agent_settings_files_load_or_raise_settings_error(content: bytes) -> None:
    try:
        AgentSettings.load(_write(content, "agent.toml"))
    except SettingsError:
        pass


def _toml(table: dict[str, Any]) -> str:
    """A [agent] table whose values are written as JSON literals (often valid TOML, often not)."""
    return "[agent]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items())


def test_a_history_file_of_the_wrong_shape_names_the_user() -> None:
    path = _write(json.dumps({"users": {"17850": {"baskets": 2, "last_unix_s": 1.0, "items": {"85123A": "yesterday"}}}}).encode(), "h.json")
    with pytest.raises(ValueError, match="17850"):
        HistoryStore(path)


def test_a_manifest_cannot_point_outside_its_bundle() -> None:
    path = _write(json.dumps({"version": "1", "created": "", "files": {"../../etc/hostname": "00"}}).encode(), MANIFEST)
    with pytest.raises(BundleError, match="outside the bundle"):
        load_manifest(path.parent)
