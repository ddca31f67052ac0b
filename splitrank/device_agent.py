"""``splitrank run-agent``: the edge agent, joined to a fleet over MQTT when ``mqtt`` is set.

The agent (``edge/``) and the fleet client (``devices/``) know nothing of each other; this module
adapts the one to the other (``AgentRuntime`` is the ``devices.device.DeviceRuntime`` of a running
agent: its counters, a probe of its model's health, live config and model swaps).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from core.bundle import resolve_bundle
from core.clock import wall_clock
from core.costs import Prices
from core.prior import Prior
from core.signals import until_stopped
from devices.device import DeviceSettings, FleetDevice, Health
from devices.model_slots import ModelSlots
from devices.mqtt import BrokerAddress
from devices.release import load_public_key, pack_bundle
from edge.agent import EdgeAgentService
from edge.link import CloudLink, EndpointTLS, parse_endpoint_tls, parse_endpoints
from edge.model import EdgeModel, HistoryEntry
from edge.server import AgentSettings, start_agent
from protos.v1 import fleet_pb2

PROBES = 30


def probe_model(model: EdgeModel, probes: int = PROBES) -> Health:
    """Run fixed probe histories through a model: errors and p50 microseconds. An error is an exception,
    a non-finite score, or an item id outside the model's catalogue."""
    errors, times = 0, []
    for p in range(probes):
        codes = model.codes[1 + (p * 7) % max(model.catalogue_size - 5, 1):][:5]
        history = [HistoryEntry(code, float(i + 1), 1.0) for i, code in enumerate(codes)]
        started = time.perf_counter()
        try:
            result = model.run(*model.encode_history(history), model.context(0, 3.0, 2, len(history)), model.shipped_prior)
            ids = result.candidate_ids
            if not np.isfinite(result.candidate_scores).all() or ids.min() < 1 or ids.max() > model.catalogue_size:
                errors += 1
        except (RuntimeError, ValueError, IndexError):
            errors += 1
        times.append((time.perf_counter() - started) * 1e6)
    return Health(errors, float(np.median(times)))


class AgentRuntime:
    """Adapts a running EdgeAgentService to the fleet client."""

    def __init__(self, service: EdgeAgentService, *, variant: str = "full_int8", prices: Prices | None = None,
                 endpoint_tls: dict[str, EndpointTLS] | None = None) -> None:
        self.service = service
        self.variant = variant
        self.prices = prices or Prices.load()
        self.endpoint_tls = endpoint_tls or {}
        """The device's own TLS files per endpoint name: endpoints the fleet configures by name use them."""

    def model_version(self) -> str:
        """The version answering requests now."""
        return self.service.model.version

    def policy(self) -> str:
        """The active router policy."""
        return self.service.router.config.policy

    def apply_config(self, config: fleet_pb2.DeviceConfig) -> None:
        """Router policy, budget and endpoints, live; raises ValueError and changes nothing when invalid."""
        changes: dict[str, object] = {}
        if config.policy:
            changes["policy"] = config.policy
        if config.cloud_fraction_target:
            changes["target_cloud_fraction"] = config.cloud_fraction_target
        changes["budget_usd_per_hour"] = config.usd_per_hour_budget
        changes["cloud_timeout_ms"] = config.cloud_timeout_ms
        changes["budget_multiplier"] = config.budget_multiplier if config.HasField("budget_multiplier") else None
        endpoints = parse_endpoints(";".join(config.cloud_endpoints), self.endpoint_tls) if config.cloud_endpoints else None
        self.service.router.update(**changes)
        if endpoints is not None:
            self.service.links = [CloudLink(endpoint) for endpoint in endpoints]

    def swap_model(self, bundle: Path) -> None:
        """Load a bundle (sha256-verified) and serve it from the next request."""
        self.service.swap_model(EdgeModel(bundle, variant=self.variant))

    def probe(self) -> Health:
        """Health of the model in service, on a second interpreter of it (the first one is serving requests)."""
        model = self.service.model
        return probe_model(EdgeModel(model.bundle, variant=model.variant))

    def prior(self) -> Prior:
        """The popularity prior the model is fed now."""
        return self.service.prior.current()

    def apply_prior(self, update: fleet_pb2.PriorUpdate) -> bool:
        """Feed the model a pushed prior from the next request on (verified by the fleet client; raises PriorRefused)."""
        return self.service.prior.apply(update)

    def counters(self) -> dict[str, float]:
        """Cumulative counters for telemetry."""
        stats = self.service.stats
        up = sum(link.stats.bytes_up for link in self.service.links)
        down = sum(link.stats.bytes_down for link in self.service.links)
        energy = stats.edge_us_total / 1e6 * self.prices.active_power_w + (up + down) * self.prices.radio_joules_per_byte
        return {"local": stats.routes["local"], "split": stats.routes["split"], "cloud": stats.routes["cloud"],
                "degraded": sum(stats.degraded.values()), "errors": stats.errors, "bytes_up": up, "bytes_down": down, "energy_joules": energy}


def fleet_bundle(settings: AgentSettings) -> Path:
    """The bundle a fleet-managed agent serves: the one its slots point at, or the configured one installed as the first."""
    slots = ModelSlots(Path(settings.state_dir) / "models")
    if slots.current is None:
        bundle = resolve_bundle(settings.repository)
        archive = Path(settings.state_dir) / "initial.tar.gz"
        pack_bundle(bundle, archive)
        slots.install(archive.read_bytes(), bundle.name)
        slots.activate(bundle.name)
        archive.unlink()
    assert slots.current is not None
    return slots.current


def fleet_device(settings: AgentSettings, service: EdgeAgentService) -> FleetDevice:
    """The fleet client of a running agent (not started)."""
    broker = BrokerAddress.parse(settings.mqtt, username=settings.mqtt_username or settings.device_id or None,
                                 password=settings.mqtt_password or None, protocol=settings.mqtt_protocol,
                                 tls_ca_file=settings.mqtt_tls_ca_file or None, tls_cert_file=settings.mqtt_tls_cert_file or None,
                                 tls_key_file=settings.mqtt_tls_key_file or None)
    key = load_public_key(Path(settings.release_public_key)) if settings.release_public_key else None
    return FleetDevice(DeviceSettings(settings.device_id, broker, Path(settings.state_dir), public_key=key, profile=settings.profile,
                                      telemetry_interval_s=settings.telemetry_interval_s, clock=wall_clock()),
                       AgentRuntime(service, variant=settings.variant, endpoint_tls=parse_endpoint_tls(settings.cloud_tls)))


async def serve_device_agent(settings: AgentSettings) -> None:
    """Run the agent (and its fleet client when ``settings.mqtt`` is set) until SIGTERM or SIGINT;
    on the way out the device leaves the fleet (state: offline), then in-flight requests finish."""
    if settings.mqtt and not settings.device_id:
        raise ValueError("a fleet-managed agent (mqtt) needs a device_id")
    running = await start_agent(settings, bundle=fleet_bundle(settings) if settings.mqtt else None)
    fleet = fleet_device(settings, running.service) if settings.mqtt else None
    if fleet is not None:
        await asyncio.to_thread(fleet.start, 0.0)
    await until_stopped()
    if fleet is not None:
        await asyncio.to_thread(fleet.stop)
    await running.stop()
