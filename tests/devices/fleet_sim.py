"""Simulated devices for the fleet tests: each a real edge agent service (TFLite model, router) with
the real fleet client on its own MQTT connection; only the app traffic is absent (no gRPC server)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from core.bundle import MANIFEST, sha256_file
from devices.device import DeviceSettings, FleetDevice
from devices.model_slots import ModelSlots
from devices.mqtt import BrokerAddress
from devices.release import pack_bundle
from edge.agent import EdgeAgentService
from edge.history_store import HistoryStore
from edge.model import EdgeModel
from edge.ranking import AgentOptions
from edge.router import Router, RouterConfig
from splitrank.device_agent import AgentRuntime


def install_initial(bundle: Path, state_dir: Path) -> Path:
    """Put ``bundle`` on a device as its first model (what a factory image would hold)."""
    archive = state_dir / "initial.tar.gz"
    state_dir.mkdir(parents=True, exist_ok=True)
    pack_bundle(bundle, archive)
    slots = ModelSlots(state_dir / "models")
    slots.install(archive.read_bytes(), bundle.name)
    return slots.activate(bundle.name)


def make_version(bundle: Path, target: Path, *, break_catalogue: bool = False) -> Path:
    """A copy of ``bundle`` as another version; ``break_catalogue`` truncates its catalogue (a bad model
    whose candidates name items it no longer knows) and re-hashes the manifest, as a careless build would."""
    shutil.copytree(bundle, target)
    if break_catalogue:
        catalogue = json.loads((target / "catalogue.json").read_text())
        catalogue["codes"] = catalogue["codes"][:4]
        catalogue["descriptions"] = catalogue["descriptions"][:4]
        (target / "catalogue.json").write_text(json.dumps(catalogue))
        manifest = json.loads((target / MANIFEST).read_text())
        manifest["files"]["catalogue.json"] = sha256_file(target / "catalogue.json")
        (target / MANIFEST).write_text(json.dumps(manifest))
    return target


class SimDevice:
    """One device: agent service + fleet client."""

    def __init__(self, device_id: str, bundle: Path, state_dir: Path, broker: BrokerAddress, public_key: object,
                 telemetry_interval_s: float = 3600.0) -> None:
        current = install_initial(bundle, state_dir)
        model = EdgeModel(current)
        self.service = EdgeAgentService(model, Router(RouterConfig(policy="local"), model.gain_model), [], HistoryStore(), AgentOptions())
        self.runtime = AgentRuntime(self.service)
        self.fleet = FleetDevice(DeviceSettings(device_id, broker, state_dir, public_key=public_key,  # type: ignore[arg-type]
                                                telemetry_interval_s=telemetry_interval_s), self.runtime)
