"""The per-request router: which route (local, split, cloud) and which cloud endpoint. It owns routing:
the agent runs its decision, failover keeps its route, and the decision says whether a local answer is a
degradation (a cloud route that was wanted and not served) or simply the route chosen.

The router decides from what the device knows now (``RouteSignals``): how sure the edge step is, the
age of the popularity prior the edge model uses (and of the model), the request's value to the app, and
each endpoint's network (RTT estimate, loss, the server's queue wait, the breaker). Policies:
``local``, ``split`` and ``cloud`` always take that route; ``threshold`` sends the requests the edge is
least sure of (smallest top-1/top-2 score margin); ``learned`` scores each request the way DCAF allocates
compute: expected gain x value, where the expected gain is the bundle's gain model times the chance the
answer arrives (1 - the link's loss) and value is the app's, relative to what the device has seen. A
request goes to the cloud when its score clears the price of a call, the budget multiplier the controller
holds (the cheapest endpoint that fits is called): the gain model's own threshold for
the target cloud fraction (the same for every device of a release, so a device with a stale prior sends
more), and at most the target fraction of this device's recent requests (the (1 - target) quantile of
its recent scores, with an integral term that adds back what the latency check and open breakers took
away). The target is capped by what a dollar budget per hour pays for. A cloud route is taken only when
the deadline left covers the endpoint's expected latency (RTT + the server's queue wait) plus a margin.
The config can be replaced live (``update``).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

import numpy as np

from core.edge_step import EdgeResult
from core.gain_model import GainModel, router_features
from edge.link import CloudLink

Policy = Literal["local", "split", "cloud", "threshold", "learned"]
POLICIES: tuple[str, ...] = get_args(Policy)
CHOOSING_POLICIES = ("threshold", "learned")
"""Policies that choose per request; the others always want one route."""
DEADLINE_TOO_SHORT = "deadline too short for the cloud"
NO_ENDPOINT = "no cloud endpoint configured"
CIRCUIT_OPEN = "circuit open"
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
    """At most this share of requests goes to the cloud (a budget, not a quota: a fresh device may send fewer)."""
    budget_usd_per_hour: float = 0.0
    """0 = no dollar budget; else the cloud-call fraction is capped at what it pays for."""
    budget_multiplier: float | None = None
    """The learned policy's price of a cloud call in expected NDCG@10 gain (DCAF's lambda), when a fleet
    controller holds it; None = the gain model's threshold for the target fraction on its validation split."""
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
        if self.budget_multiplier is not None and not np.isfinite(self.budget_multiplier):
            raise ValueError(f"budget_multiplier must be a finite number (or None), got {self.budget_multiplier}")


@dataclass(frozen=True)
class RouteSignals:
    """What the device knows about one request when it routes it."""

    result: EdgeResult
    hist_items: np.ndarray
    context: np.ndarray
    prior_age_days: float
    """Age of the popularity prior the edge model ranked with (the model's release day until a fresher prior is pushed)."""
    model_age_days: float
    value: float = 0.0
    """What the request is worth to the app (e.g. the basket value it expects); 0 = unknown."""

    def features(self) -> np.ndarray:
        """The gain model's features of this request (``core.gain_model.ROUTER_FEATURES``)."""
        result = self.result
        features: np.ndarray = router_features(result.candidate_ids, result.candidate_scores, self.hist_items, self.context, self.prior_age_days)[0]
        return features


@dataclass(frozen=True)
class Decision:
    """Where one request goes; ``link`` is None on the local route; ``reason`` says why when a cloud route was
    wanted but not taken, and ``degraded`` whether the local answer then counts as a degradation."""

    route: str
    link: CloudLink | None
    reason: str = ""
    wanted: str = ""
    timeout_s: float | None = None
    """Cap on the cloud call (the router's cloud_timeout_ms for routes it chose), None = the deadline left."""
    degraded: bool = False


class ValueScale:
    """The app's request values relative to their running mean, so a value weighs the gain without moving
    the budget; a request without a value counts as an average one."""

    def __init__(self, halflife: int = 500) -> None:
        self._decay = 0.5 ** (1 / halflife)
        self._mean = 0.0

    def weight(self, value: float) -> float:
        """value / the mean value seen so far (1 for an unknown value or before any value)."""
        if value <= 0 or not np.isfinite(value):
            return 1.0
        self._mean = value if self._mean == 0 else self._decay * self._mean + (1 - self._decay) * value
        return value / self._mean


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
        self._arrivals: deque[float] = deque(maxlen=1000)
        self._values = ValueScale()

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

    def budget_multiplier(self, target: float) -> float:
        """The score a request must reach (the learned policy's lambda): held by the fleet, or the gain model's
        threshold for ``target`` on its validation split; -inf for the threshold policy (its scores have no units)."""
        if self.config.policy != "learned" or self.gain_model is None:
            return -np.inf
        if self.config.budget_multiplier is not None:
            return self.config.budget_multiplier
        return self.gain_model.threshold_for(target, self.config.cloud_route)

    def _score(self, signals: RouteSignals, links: list[CloudLink]) -> float:
        """Higher = more worth a cloud call."""
        if self.config.policy != "learned":
            margin = signals.result.candidate_scores
            return -float(margin[0] - margin[1])  # threshold: a small top-1/top-2 margin = an unsure edge
        assert self.gain_model is not None
        gain = float(self.gain_model.predict(signals.features(), self.config.cloud_route)[0])
        arrives = max((1.0 - link.loss for link in links), default=1.0)
        return gain * arrives * self._values.weight(signals.value)

    def _wants_cloud(self, signals: RouteSignals, links: list[CloudLink]) -> bool:
        target = self.target_fraction(links)
        score = self._score(signals, links)
        self._scores[self._seen % len(self._scores)] = score
        self._seen += 1
        if target <= 0:
            return False
        if target >= 1:
            return True
        floor = self.budget_multiplier(target)
        if self._seen < 20 and np.isfinite(floor):
            return score >= floor
        if self._threshold is None or self._seen % REFRESH_EVERY == 0:  # a quantile per request would cost more than the edge step
            quantile = float(np.clip(1.0 - target - self._correction, 0.0, 1.0))
            self._threshold = max(float(np.quantile(self._recent(), quantile)), floor)
        return score >= self._threshold

    def needs_signals(self, forced: str | None) -> bool:
        """Whether ``decide`` reads the request's ``RouteSignals``: only when the policy chooses and the app forced no route."""
        return not forced and self.config.policy in CHOOSING_POLICIES

    def decide(self, signals: RouteSignals | None, forced: str | None, deadline_left_s: float | None, links: list[CloudLink]) -> Decision:
        """The route for one request (``forced`` by the app, else by the policy) and the endpoint to call;
        ``signals`` are needed by the threshold and learned policies only."""
        self._arrivals.append(time.monotonic())
        policy = self.config.policy
        choosing = not forced and policy in CHOOSING_POLICIES
        if forced:
            wanted = forced
        elif not choosing:
            wanted = policy
        else:
            if signals is None:
                raise ValueError(f"the {policy} policy needs the request's route signals")
            wanted = self.config.cloud_route if self._wants_cloud(signals, links) else "local"
        cap = self.config.cloud_timeout_ms / 1000 if choosing and self.config.cloud_timeout_ms else None
        if cap is not None:
            deadline_left_s = cap if deadline_left_s is None else min(deadline_left_s, cap)
        decision = self._pick(wanted, deadline_left_s, links)
        # a route the app or an always-cloud policy asked for and not taken is a degradation; the choosing policies
        # staying local because no cloud can answer in time (or none is configured) is routing
        degraded = bool(decision.reason) and (not choosing or decision.reason not in ROUTING_REASONS)
        if choosing:
            took = 1.0 if decision.route != "local" else 0.0
            wanted_cloud = 1.0 if wanted != "local" else 0.0
            self._correction = float(np.clip(self._correction + 0.01 * (wanted_cloud - took), 0.0, 0.3))
        return Decision(decision.route, decision.link, decision.reason, decision.wanted, cap, degraded)

    def _pick(self, wanted: str, deadline_left_s: float | None, links: list[CloudLink]) -> Decision:
        if wanted == "local":
            return Decision("local", None)
        if not links:
            return Decision("local", None, NO_ENDPOINT, wanted)
        margin = self.config.latency_margin_ms / 1000
        fits = [link for link in links if deadline_left_s is None or link.fits(deadline_left_s - margin)]
        if not fits:
            return Decision("local", None, DEADLINE_TOO_SHORT, wanted)
        for link in sorted(fits, key=lambda link: (link.endpoint.usd_per_call, link.expected_latency_s())):
            if link.available():
                return Decision(wanted, link, "", wanted)
        return Decision("local", None, CIRCUIT_OPEN, wanted)

    def failover(self, decision: Decision, failed: CloudLink, deadline_left_s: float | None, links: list[CloudLink]) -> CloudLink | None:
        """Another endpoint for ``decision``'s route that fits the deadline left, for one retry after ``failed``."""
        return self._pick(decision.route, deadline_left_s, [link for link in links if link is not failed]).link
