"""Model slots on the device: a device killed (SIGKILL) at any moment of an install or swap comes back
on a complete, verified model."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.bundle import BundleError, load_manifest
from devices.model_slots import ModelSlots
from devices.release import pack_bundle
from edge.model import EdgeModel
from tests.devices.fleet_sim import make_version

SWAPPER = """
import sys
from pathlib import Path
from devices.model_slots import ModelSlots
root, archive = Path(sys.argv[1]), Path(sys.argv[2]).read_bytes()
slots = ModelSlots(root)
version = 10
while True:  # install a new version and swap to it, forever, until killed
    version += 1
    slots.install(archive, str(version))
    slots.activate(str(version))
    print(version, flush=True)
"""


def test_sigkill_mid_swap_leaves_a_valid_model(tiny_bundle: Path, tmp_path: Path) -> None:
    archive = tmp_path / "bundle.tar.gz"
    pack_bundle(tiny_bundle, archive)
    root = tmp_path / "device"
    ModelSlots(root).activate(ModelSlots(root).install(archive.read_bytes(), "1").name)
    rng = np.random.default_rng(0)
    for _ in range(6):
        process = subprocess.Popen([sys.executable, "-c", SWAPPER, str(root), str(archive)], stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stdout.readline()  # at least one swap done, then kill it mid-way
        time.sleep(float(rng.uniform(0.0, 0.3)))
        process.send_signal(signal.SIGKILL)
        process.wait(5)
        slots = ModelSlots(root)  # what the device does when it boots
        assert slots.current is not None
        load_manifest(slots.current)  # every file present and matching its sha256
        assert EdgeModel(slots.current).run  # and the model loads
        assert not list((root / "versions").glob(".staging-*"))


def test_tampered_archive_and_rollback_without_previous_are_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    bad = make_version(tiny_bundle, tmp_path / "b" / "3")
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["files"]["catalogue.json"] = "0" * 64
    (bad / "manifest.json").write_text(json.dumps(manifest))
    archive = tmp_path / "bad.tar.gz"
    pack_bundle(bad, archive)
    slots = ModelSlots(tmp_path / "device")
    with pytest.raises(BundleError, match="corrupt"):
        slots.install(archive.read_bytes(), "3")
    with pytest.raises(BundleError, match="no previous"):
        slots.rollback()
