"""The per-request router: which route (local, split, cloud) and which cloud endpoint.

Policies: ``local``, ``split`` and ``cloud`` always take that route; ``threshold`` sends the requests
the edge is least sure of (smallest top-1/top-2 score margin); ``learned`` sends those with the
highest gain predicted by the bundle's gain model. Both of the last two hold a target cloud-call
fraction, or the fraction a dollar budget per hour pays for, whichever is lower, with a feedback
controller: the threshold is the (1 - target) quantile of recent scores, and an integral term adds
back what the latency check and open breakers took away. A cloud route is taken only when the
deadline left covers the endpoint's expected latency (RTT + the server's queue wait) plus a margin.
The config can be replaced live (``update``).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

import numpy as np

from core.gain_model import GainModel
from edge.link import CloudLink

Policy = Literal["local", "split", "cloud", "threshold", "learned"]
POLICIES: tuple[str, ...] = get_args(Policy)
DEADLINE_TOO_SHORT = "deadline too short for the cloud"
NO_ENDPOINT = "no cloud endpoint configured"
ROUTING_REASONS = (DEADLINE_TOO_SHORT, NO_ENDPOINT)
"""Why the threshold and learned policies may keep a request local without that being a degradation."""
REFRESH_EVERY = 16
"""Requests between two recomputations of the threshold from the window of recent scores."""


@dataclass(frozen=True)
class RouterConfig:
    """What operators tune, live (fleet config) or at start (``[agent]`` settings)."""

    policy: str = "learned"
    cloud_route: str = "split"
    """Route ``threshold`` and ``learned`` send to: ``split`` (u + candidates, history stays) or ``cloud`` (raw history)."""
    target_cloud_fraction: float = 0.3
    budget_usd_per_hour: float = 0.0
    """0 = no dollar budget; else the cloud-call fraction is capped at what it pays for."""
    latency_margin_ms: float = 5.0
    cloud_timeout_ms: float = 0.0
    """Longest wait for a cloud call the router chose itself (an optional improvement), after which the edge
    answer goes back; 0 = whatever is left of the deadline. Routes forced by the app always get the deadline."""
    window: int = 500

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"router policy {self.policy!r} is not one of {POLICIES}")
        if self.cloud_route not in ("split", "cloud"):
            raise ValueError(f"cloud_route must be 'split' or 'cloud', got {self.cloud_route!r}")
        if not 0.0 <= self.target_cloud_fraction <= 1.0:
            raise ValueError(f"target_cloud_fraction must be within [0, 1], got {self.target_cloud_fraction}")
        if not (self.budget_usd_per_hour >= 0 and self.latency_margin_ms >= 0 and self.cloud_timeout_ms >= 0) or self.window < 10:  # NaN too
            raise ValueError("budget_usd_per_hour, latency_margin_ms and cloud_timeout_ms must be >= 0, window >= 10")


@dataclass(frozen=True)
class Decision:
    """Where one request goes; ``link`` is None on the local route; ``reason`` says why when a cloud route was wanted but not taken."""

    route: str
    link: CloudLink | None
    reason: str = ""
    wanted: str = ""
    timeout_s: float | None = None
    """Cap on the cloud call (the router's cloud_timeout_ms for routes it chose), None = the deadline left."""


class Router:
    """Decides routes; one per agent, used from the agent's event loop."""

    def __init__(self, config: RouterConfig, gain_model: GainModel | None) -> None:
        if config.policy == "learned" and gain_model is None:
            raise ValueError("the learned policy needs a bundle with edge/router.json (retrain with this version)")
        self.config = config
        self.gain_model = gain_model
        self._scores = np.zeros(config.window)
        self._seen = 0
        self._threshold: float | None = None
        self._correction = 0.0
        self._fraction = config.target_cloud_fraction
        self._arrivals: deque[float] = deque(maxlen=1000)

    def update(self, **changes: Any) -> RouterConfig:
        """Replace config fields live; raises ValueError and keeps the old config when the new one is invalid."""
        config = replace(self.config, **changes)
        if config.policy == "learned" and self.gain_model is None:
            raise ValueError("the learned policy needs a bundle with edge/router.json")
        if config.window != self.config.window:
            recent = self._recent()[-config.window :]
            self._scores, self._seen = np.zeros(config.window), len(recent)
            self._scores[: len(recent)] = recent
        if (config.policy, config.target_cloud_fraction, config.cloud_route) != (self.config.policy, self.config.target_cloud_fraction,
                                                                                  self.config.cloud_route):
            self._correction = 0.0  # a new target starts a fresh controller
        self.config = config
        self._threshold = None
        return config

    def _recent(self) -> np.ndarray:
        return self._scores[: min(self._seen, len(self._scores))]

    def target_fraction(self, links: list[CloudLink]) -> float:
        """The cloud-call fraction to hold now: the target, capped by the dollar budget at the current request rate."""
        target = self.config.target_cloud_fraction
        if self.config.budget_usd_per_hour > 0 and len(self._arrivals) > 1:
            span = max(self._arrivals[-1] - self._arrivals[0], 1e-3)
            per_hour = (len(self._arrivals) - 1) / span * 3600
            price = min((link.endpoint.usd_per_call for link in links), default=0.0)
            if price > 0:
                target = min(target, self.config.budget_usd_per_hour / (price * per_hour))
        return target

    def _score(self, features: np.ndarray) -> float:
        """Higher = more worth a cloud call."""
        if self.config.policy == "learned":
            assert self.gain_model is not None
            return float(self.gain_model.predict(features, self.config.cloud_route)[0])
        return -float(features[0])  # threshold: a small top-1/top-2 margin = an unsure edge

    def _wants_cloud(self, features: np.ndarray, links: list[CloudLink]) -> bool:
        target = self.target_fraction(links)
        score = self._score(features)
        self._scores[self._seen % len(self._scores)] = score
        self._seen += 1
        if target <= 0:
            return False
        if target >= 1:
            return True
        if self._seen < 20 and self.config.policy == "learned" and self.gain_model is not None:
            return score >= self.gain_model.threshold_for(target, self.config.cloud_route)
        if self._threshold is None or self._seen % REFRESH_EVERY == 0:  # a quantile per request would cost more than the edge step
            quantile = float(np.clip(1.0 - target - self._correction, 0.0, 1.0))
            self._threshold = float(np.quantile(self._recent(), quantile))
        return score >= self._threshold

    def decide(self, features: np.ndarray | None, forced: str | None, deadline_left_s: float | None, links: list[CloudLink]) -> Decision:
        """The route for one request (``forced`` by the app, else by the policy) and the endpoint to call;
        ``features`` (router_features of the request) are needed by the threshold and learned policies only."""
        self._arrivals.append(time.monotonic())
        policy = self.config.policy
        if forced:
            wanted = forced
        elif policy in ("local", "split", "cloud"):
            wanted = policy
        else:
            if features is None:
                raise ValueError(f"the {policy} policy needs the request's router features")
            wanted = self.config.cloud_route if self._wants_cloud(features, links) else "local"
        cap = self.config.cloud_timeout_ms / 1000 if not forced and policy in ("threshold", "learned") and self.config.cloud_timeout_ms else None
        if cap is not None:
            deadline_left_s = cap if deadline_left_s is None else min(deadline_left_s, cap)
        decision = replace(self._pick(wanted, deadline_left_s, links), timeout_s=cap)
        if not forced and policy in ("threshold", "learned"):
            took = 1.0 if decision.route != "local" else 0.0
            wanted_cloud = 1.0 if wanted != "local" else 0.0
            self._correction = float(np.clip(self._correction + 0.01 * (wanted_cloud - took), 0.0, 0.3))
        return decision

    def _pick(self, wanted: str, deadline_left_s: float | None, links: list[CloudLink]) -> Decision:
        if wanted == "local":
            return Decision("local", None)
        if not links:
            return Decision("local", None, NO_ENDPOINT, wanted)
        margin = self.config.latency_margin_ms / 1000
        fits = [link for link in links if deadline_left_s is None or link.expected_latency_s() + margin <= deadline_left_s]
        if not fits:
            return Decision("local", None, DEADLINE_TOO_SHORT, wanted)
        for link in sorted(fits, key=lambda link: (link.endpoint.usd_per_call, link.expected_latency_s())):
            if link.available():
                return Decision(wanted, link, "", wanted)
        return Decision("local", None, "circuit open", wanted)

    def failover(self, failed: CloudLink, deadline_left_s: float | None, links: list[CloudLink]) -> CloudLink | None:
        """Another endpoint that fits the deadline left, for one retry after ``failed``."""
        return self._pick("split", deadline_left_s, [link for link in links if link is not failed]).link
