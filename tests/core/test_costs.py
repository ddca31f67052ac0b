"""The cost model reads its prices file, refuses broken ones, and adds up what it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.costs import DEFAULT_PRICES, Prices, push_cost_per_request, request_cost


def test_packaged_prices_and_arithmetic() -> None:
    prices = Prices.load()
    cost = request_cost(prices, cloud_compute_s=0.001, bytes_up=100, bytes_down=1000, edge_compute_s=0.0002)
    hardware = 0.001 * prices.gpu_usd_per_hour / 3600 / prices.utilization
    assert cost.hardware_usd == pytest.approx(hardware)
    assert cost.egress_usd == pytest.approx(1000 / 1e9 * prices.egress_usd_per_gb)
    assert cost.usd == pytest.approx(cost.hardware_usd + cost.energy_usd + cost.operations_usd + cost.egress_usd)
    assert cost.device_joules == pytest.approx(0.0002 * prices.active_power_w + 1100 * prices.radio_joules_per_byte)
    assert request_cost(prices, cloud_compute_s=0, bytes_up=0, bytes_down=0, edge_compute_s=0).usd == 0


def test_broken_price_files_are_refused(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    missing.write_text("[cloud]\ngpu_usd_per_hour = 2.0\n")
    with pytest.raises(ValueError, match="missing prices"):
        Prices.load(missing)
    negative = tmp_path / "negative.toml"
    negative.write_text(DEFAULT_PRICES.read_text().replace("egress_usd_per_gb = 0.09", "egress_usd_per_gb = -1"))
    with pytest.raises(ValueError, match="egress_usd_per_gb"):
        Prices.load(negative)
    with pytest.raises(ValueError, match="cannot read"):
        Prices.load(tmp_path / "nope.toml")


def test_the_freshness_push_is_shared_by_every_request_until_the_next_one() -> None:
    prices = Prices.load()
    one = push_cost_per_request(prices, push_bytes=2000, compute_s=0.5, devices=1000, requests_per_device=10)
    assert one.egress_usd == pytest.approx(2000 * 1000 / 1e9 * prices.egress_usd_per_gb / 10_000)
    assert one.device_joules == pytest.approx(2000 * prices.radio_joules_per_byte / 10)
    busier = push_cost_per_request(prices, push_bytes=2000, compute_s=0.5, devices=1000, requests_per_device=100)
    assert busier.usd == pytest.approx(one.usd / 10) and busier.device_joules == pytest.approx(one.device_joules / 10)
