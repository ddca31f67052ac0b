"""Staged rollout plans: a canary share first, then waves that grow by a factor, and the abort rule
(halt and roll back once the failure share among devices that answered passes a threshold, counted
only after a minimum number of answers). Pure logic: the manager does the talking."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from protos.v1 import fleet_pb2

FAILED = (fleet_pb2.Ack.STATUS_ROLLED_BACK, fleet_pb2.Ack.STATUS_REJECTED)


@dataclass(frozen=True)
class RolloutPlan:
    """How fast a release spreads and when it stops."""

    canary_share: float = 0.05
    growth: float = 2.0
    max_failure_share: float = 0.2
    min_answers: int = 1
    wave_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not 0 < self.canary_share <= 1 or self.growth < 1 or not 0 <= self.max_failure_share < 1 or self.min_answers < 1:
            raise ValueError("rollout: canary_share in (0, 1], growth >= 1, max_failure_share in [0, 1), min_answers >= 1")

    def waves(self, devices: list[str]) -> list[list[str]]:
        """The devices of each wave, in order: the canary (at least one device), then growing waves."""
        out, start = [], 0
        size = max(1, math.ceil(self.canary_share * len(devices)))
        while start < len(devices):
            out.append(devices[start : start + size])
            start += size
            size = max(size + 1, math.ceil(size * self.growth))
        return out

    def should_abort(self, outcomes: Mapping[str, int]) -> bool:
        """Given the ack status per device so far (timeouts count as failures)."""
        answered = len(outcomes)
        failed = sum(1 for status in outcomes.values() if status in FAILED or status == fleet_pb2.Ack.STATUS_UNSPECIFIED)
        return answered >= self.min_answers and failed / answered > self.max_failure_share
