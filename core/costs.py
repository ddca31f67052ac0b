"""The cost model: what a request costs on each route, from prices in a TOML file users edit
(``core/prices.toml`` is the documented default; ``--prices`` points at your copy).

Cloud dollars per request = (compute seconds x (GPU or CPU price / utilization) + compute seconds x
server power x PUE x energy price) x (1 + operations overhead) + bytes down x egress price.
Device energy per request = edge compute seconds x active power + bytes sent and received x radio energy.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_PRICES = Path(__file__).with_name("prices.toml")


@dataclass(frozen=True)
class Prices:
    """Every price and power figure the model uses (see prices.toml for units and sources)."""

    gpu_usd_per_hour: float
    cpu_core_usd_per_hour: float
    server_power_w: float
    pue: float
    utilization: float
    operations_overhead: float
    egress_usd_per_gb: float
    usd_per_kwh: float
    active_power_w: float
    radio_joules_per_byte: float

    @classmethod
    def load(cls, path: Path | None = None) -> Prices:
        """Read a prices file (default: the packaged one); raises ValueError naming a missing or bad key."""
        path = Path(path) if path else DEFAULT_PRICES
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ValueError(f"{path}: cannot read prices ({err})") from err
        flat = {key: value for table in raw.values() if isinstance(table, dict) for key, value in table.items()}
        missing = sorted(set(cls.__dataclass_fields__) - set(flat))
        if missing:
            raise ValueError(f"{path}: missing prices {missing}")
        bad = [key for key in cls.__dataclass_fields__ if not isinstance(flat[key], int | float) or flat[key] < 0]
        if bad:
            raise ValueError(f"{path}: prices must be numbers >= 0: {bad}")
        if not 0 < flat["utilization"] <= 1:
            raise ValueError(f"{path}: utilization must be within (0, 1]")
        return cls(**{key: float(flat[key]) for key in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, float]:
        """For reports."""
        return asdict(self)


@dataclass(frozen=True)
class RequestCost:
    """One request's costs, by part."""

    hardware_usd: float
    energy_usd: float
    operations_usd: float
    egress_usd: float
    device_joules: float

    @property
    def usd(self) -> float:
        """Central dollars of the request."""
        return self.hardware_usd + self.energy_usd + self.operations_usd + self.egress_usd


def request_cost(prices: Prices, *, cloud_compute_s: float, bytes_up: float, bytes_down: float, edge_compute_s: float,
                 gpu: bool = True) -> RequestCost:
    """The cost of one request given what it used."""
    hour_price = prices.gpu_usd_per_hour if gpu else prices.cpu_core_usd_per_hour
    hardware = cloud_compute_s * hour_price / 3600 / prices.utilization
    energy = cloud_compute_s * prices.server_power_w * prices.pue / 3.6e6 * prices.usd_per_kwh if gpu else 0.0
    egress = bytes_down / 1e9 * prices.egress_usd_per_gb
    device = edge_compute_s * prices.active_power_w + (bytes_up + bytes_down) * prices.radio_joules_per_byte
    return RequestCost(hardware, energy, (hardware + energy) * prices.operations_overhead, egress, device)


def push_cost_per_request(prices: Prices, *, push_bytes: float, compute_s: float, devices: int, requests_per_device: float) -> RequestCost:
    """The freshness push, amortized: one push (``push_bytes`` to each of ``devices``, ``compute_s`` of one CPU
    core to compute and sign it) shared by the ``requests_per_device`` each device answers before the next push."""
    requests = max(devices * requests_per_device, 1.0)
    hardware = compute_s * prices.cpu_core_usd_per_hour / 3600 / prices.utilization / requests
    egress = push_bytes * devices / 1e9 * prices.egress_usd_per_gb / requests
    device = push_bytes * prices.radio_joules_per_byte / max(requests_per_device, 1.0)
    return RequestCost(hardware, 0.0, hardware * prices.operations_overhead, egress, device)


def explain(prices: Prices, example: dict[str, Any]) -> list[str]:
    """Lines that walk through the cost of one example request, with the numbers used."""
    cost = request_cost(prices, **example)
    return [(f"hardware   {example['cloud_compute_s'] * 1000:.3f} ms x {prices.gpu_usd_per_hour} USD/h / {prices.utilization} utilization"
            f" = {cost.hardware_usd * 1e6:.4f} USD per million"),
            f"energy     {prices.server_power_w} W x PUE {prices.pue} x {prices.usd_per_kwh} USD/kWh = {cost.energy_usd * 1e6:.4f} USD per million",
            f"operations {prices.operations_overhead:.0%} of hardware + energy = {cost.operations_usd * 1e6:.4f} USD per million",
            f"egress     {example['bytes_down']:.0f} B x {prices.egress_usd_per_gb} USD/GB = {cost.egress_usd * 1e6:.4f} USD per million",
            f"total      {cost.usd * 1e6:.4f} USD per million requests; device energy {cost.device_joules * 1000:.3f} mJ per request"]
