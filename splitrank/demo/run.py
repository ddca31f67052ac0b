"""The demo end to end: a bundle (trained if there is none), the running system, a timed replay of
the held-out test period per policy, and the report.

The replay runs a simulated clock: as it crosses into a day of the test period, the fleet manager pushes
that day's popularity prior (policies with the push), and one agent is offline for ``stale_days`` of
it (its broker link cut: it misses those pushes but still serves its customers)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cloud.data.examples import Dataset, Examples
from core.bundle import DEFAULT_REPOSITORY, BundleError, resolve_bundle
from core.costs import Prices, push_cost_per_request
from core.prior import Prior
from edge.model import EdgeModel
from protos.v1 import cloud_pb2
from splitrank.demo.curve import router_curve, router_scores
from splitrank.demo.replay import Outcome, Request, build_requests, replay
from splitrank.demo.report import (
    agent_table,
    comparison,
    per_agent,
    per_profile,
    profile_table,
    request_ndcg,
    summarize,
    table,
    write_plots,
)
from splitrank.demo.stack import DemoStack

POLICIES = {"local": ("local", 0.0, False), "local+push": ("local", 0.0, True), "split": ("split", 0.0, True), "cloud": ("cloud", 0.0, True),
            "routed": ("learned", None, True)}
"""Report name -> (router policy, cloud fraction target (None = the demo's routed_fraction), daily prior push).
They run in this order: ``local`` (the release day's prior) before any push."""


@dataclass(frozen=True)
class DemoSettings:
    """What ``splitrank demo`` can be told."""

    repository: Path = DEFAULT_REPOSITORY
    data: str | None = None
    profiles: tuple[str, ...] = ("wifi", "4g", "3g", "lossy")
    requests: int = 2000
    rate_per_s: float = 50.0
    deadline_ms: float = 300.0
    routed_fraction: float = 0.6
    """The routed policy's cap on each device's cloud-call share (a stale device may use it; a fresh one sends fewer)."""
    routed_budget_fraction: float = 0.2
    """The fleet's budget, as the controller holds it: the price of a cloud call (the budget multiplier every device gets)
    is the gain model's threshold for this share of the release's validation requests, whose priors were 0 to 70 days old."""
    routed_cloud_timeout_ms: float = 100.0
    report_dir: Path = Path("demo-report")
    prices: Path | None = None
    seed: int = 0
    policies: tuple[str, ...] = field(default=tuple(POLICIES))
    stale_agent: int = 0
    """The agent that is offline (and misses the pushes) from test day ``stale_days[0]`` to ``stale_days[1]``."""
    stale_days: tuple[int, int] = (7, 28)


def ensure_bundle(settings: DemoSettings, say: Callable[[str], None]) -> Path:
    """The newest valid bundle, or a freshly trained one."""
    try:
        return resolve_bundle(settings.repository)
    except BundleError:
        from cloud.training.pipeline import TrainSettings, run_training

        say(f"no model bundle in {settings.repository}: training one on the real data (about 3 minutes on 2 cores)")
        return run_training(TrainSettings(data=settings.data, repository=settings.repository))


def _history_bytes(request: Request) -> int:
    """Bytes of the raw history a cloud-route call carries."""
    return sum(cloud_pb2.CloudHistoryItem(item_id=1 + i, age_days=a, count=c).ByteSize() for i, (_, a, c) in enumerate(request.history))


def _replay_policy(stack: DemoStack, requests: list[Request], dataset: Dataset, settings: DemoSettings, *, push: bool,
                   progress: Callable[[int, int], None], pushed: dict[int, Prior]) -> tuple[list[Outcome], dict[tuple[int, int], int]]:
    """One policy's timed replay. With ``push``, a simulated clock: the fleet gets each day's prior as the replay crosses
    into it, and the stale agent is offline inside its window. Returns the outcomes and the version of the prior each
    agent reported to the fleet manager after each day's push ((unix day, agent) -> version; ``pushed`` gets each
    version's prior)."""
    from splitrank.reports.replay import pushed_prior

    first_day = int(dataset.test.day.min())
    start_day = int(dataset.start.timestamp()) // 86400
    stale_agent = stack.agents[settings.stale_agent % len(stack.agents)]
    held: dict[tuple[int, int], int] = {}

    def new_day(unix_day: int) -> None:
        assert stack.manager is not None
        day = unix_day - start_day
        stack.set_online(stale_agent, not settings.stale_days[0] <= day - first_day < settings.stale_days[1])
        prior = pushed_prior(dataset, day)
        pushed[stack.push_prior(prior.values, prior.day_unix_s)] = prior
        versions = {row["device_id"]: row["prior_version"] for row in stack.manager.status()}
        held.update({(unix_day, number): versions.get(agent.device_id, 0) for number, agent in enumerate(stack.agents)})

    runs = asyncio.run(replay(requests, [agent.address for agent in stack.agents], rate_per_s=settings.rate_per_s,
                              deadline_s=settings.deadline_ms / 1000, progress=progress, on_day=new_day if push else None))
    stack.set_online(stale_agent, True)
    return runs, held


def _router_curve(requests: list[Request], outcomes: dict[str, list[Outcome]], held: dict[tuple[int, int], int], pushed: dict[int, Prior],
                  edge: EdgeModel, stack: DemoStack, test: Examples, index: dict[str, int], settings: DemoSettings,
                  price: float | None) -> dict[str, Any]:
    """The learned router's NDCG@10-against-cloud-share curve over the recorded ``local+push`` and ``split`` answers."""
    from splitrank.netem import PROFILES

    priors = [pushed.get(held.get((int(r.context["unix_time_s"]) // 86400, r.agent), 0), edge.shipped_prior) for r in requests]
    scores = router_scores(requests, edge, priors, [PROFILES[agent.profile].loss for agent in stack.agents])
    split = outcomes["split"]
    in_time = np.array([o.route == "split" and o.latency_ms <= settings.routed_cloud_timeout_ms for o in split])
    points = router_curve(scores, request_ndcg(outcomes["local+push"], test, index), request_ndcg(split, test, index), in_time,
                          [] if price is None else [price])
    return {"price": price, "cloud_timeout_ms": settings.routed_cloud_timeout_ms, "points": points}


def run_demo(settings: DemoSettings, say: Callable[[str], None] = print, progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Everything; returns the report (also written to ``report_dir``)."""
    from cloud.serving.scoring import compute_device
    from cloud.training.pipeline import TrainSettings, load_dataset
    from splitrank.reports.replay import load_models, request_times

    unknown = sorted(set(settings.policies) - set(POLICIES))
    if unknown or "local" not in settings.policies:
        raise ValueError(f"policies must include local and be among {list(POLICIES)}; unknown: {unknown}")
    prices = Prices.load(settings.prices)
    bundle = ensure_bundle(settings, say)
    edge, _ = load_models(bundle)
    dataset, _ = load_dataset(TrainSettings(data=settings.data, history_len=edge.history_len))
    test = dataset.test
    rng = np.random.default_rng(settings.seed)
    rows = np.sort(rng.choice(len(test), size=min(settings.requests, len(test)), replace=False))
    unix = request_times(dataset, test)
    requests = build_requests(test, rows, edge.codes, unix, len(settings.profiles))
    first_day = int(test.day.min())
    stale_window = {int(r) for r in rows if settings.stale_days[0] <= test.day[r] - first_day < settings.stale_days[1]}  # example ids
    index = {code: i for i, code in enumerate(edge.codes)}
    gpu = compute_device() == "GPU"
    price = edge.gain_model.threshold_for(settings.routed_budget_fraction, "split") if edge.gain_model else None
    say(f"bundle {bundle}; {len(requests)} test-period requests per policy at {settings.rate_per_s:.0f}/s, deadline {settings.deadline_ms:.0f} ms; "
        f"cloud compute priced as {'GPU' if gpu else 'CPU'} time")
    stack = DemoStack(bundle, list(settings.profiles))
    policies: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, list[Outcome]] = {}
    held: dict[str, dict[tuple[int, int], int]] = {}
    pushed: dict[int, Prior] = {}
    curve: dict[str, Any] | None = None
    try:
        stack.start(say)
        addresses = [agent.address for agent in stack.agents]
        stack.set_policy("split")
        asyncio.run(replay(requests[:50], addresses, rate_per_s=settings.rate_per_s, deadline_s=settings.deadline_ms / 1000))  # warm links
        for name in (p for p in POLICIES if p in settings.policies):
            policy, fraction, push = POLICIES[name]
            if fraction is None:
                stack.set_policy(policy, settings.routed_fraction, settings.routed_cloud_timeout_ms, budget_multiplier=price)
            else:
                stack.set_policy(policy, fraction)
            compute_before, (up_before, down_before) = stack.compute_seconds(), stack.wire_bytes()
            pushes_before, push_bytes_before, push_cpu_before = stack.priors.version if stack.priors else 0, stack.push_bytes, stack.push_cpu_s
            report = (lambda done, total, name=name: progress(name, done, total)) if progress else (lambda done, total: None)
            runs, held[name] = _replay_policy(stack, requests, dataset, settings, push=push, progress=report, pushed=pushed)
            compute_after, (up_after, down_after) = stack.compute_seconds(), stack.wire_bytes()
            compute = sum(compute_after.values()) - sum(compute_before.values())
            by_example = {r.example: r for r in requests}
            raw = sum(_history_bytes(by_example[o.example]) for o in runs if o.route == "cloud")
            outcomes[name] = runs
            policies[name] = summarize(runs, test, index, compute_s=compute, bytes_up=up_after - up_before, bytes_down=down_after - down_before,
                                       raw_history_bytes=raw, prices=prices, gpu=gpu)
            if push and stack.priors:
                sent = max(stack.priors.version - pushes_before, 1)
                cost = push_cost_per_request(prices, push_bytes=(stack.push_bytes - push_bytes_before) / sent,
                                             compute_s=(stack.push_cpu_s - push_cpu_before) / sent, devices=len(stack.agents),
                                             requests_per_device=len(runs) / sent / len(stack.agents))
                policies[name]["push_usd_per_million"] = cost.usd * 1e6  # apart from usd_per_million: see the README
            agents = [(a.device_id, a.profile) for a in stack.agents]
            policies[name]["agents"] = per_agent(runs, test, index, agents, stale_window if push else set())
            policies[name]["profiles"] = per_profile(runs, test, index, agents)
            say(f"{name}: NDCG@10 {policies[name]['ndcg_at_10']:.4f}, p99 {policies[name]['p99_ms']:.1f} ms, "
                f"cloud share {policies[name]['cloud_share']:.0%}, failed {policies[name]['failed']}")
        fleet = stack.manager.telemetry_summary() if stack.manager else {}
        if {"local+push", "split"} <= outcomes.keys() and edge.gain_model is not None:
            curve = _router_curve(requests, outcomes, held["split"], pushed, edge, stack, test, index, settings, price)
        pushes = stack.priors.version if stack.priors else 0
    finally:
        stack.stop()
    settings.report_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"bundle": str(bundle), "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
                              "cloud_device": "GPU" if gpu else "CPU", "prices": prices.as_dict(), "policies": policies, "fleet_telemetry": fleet,
                              "prior_pushes": pushes, "stale_agent": stack.agents[settings.stale_agent % len(stack.agents)].device_id}
    if {"local", "cloud", "routed"} <= policies.keys():
        result["routed_vs_cloud"] = comparison(policies)
    if curve is not None:
        result["router_curve"] = curve
    result["plots"] = [str(p) for p in write_plots(settings.report_dir, policies, outcomes, curve)]
    (settings.report_dir / "report.json").write_text(json.dumps(result, indent=2))
    (settings.report_dir / "report.txt").write_text("\n".join(table(policies) + [""] + profile_table(policies) + [""] + agent_table(policies)) + "\n")
    return result
