"""Router policies, the cloud-fraction controller, the latency check and the resilience primitives."""

from __future__ import annotations

import numpy as np
import pytest

from core.edge_step import EdgeResult
from core.gain_model import ROUTER_FEATURES, fit_gain_model, router_features
from edge.deadline import DeadlineMargin
from edge.link import PROBE_EVERY_S, CloudLink, Endpoint, parse_endpoints
from edge.resilience import CircuitBreaker, RetryBudget
from edge.router import Decision, Router, RouterConfig, RouteSignals

AGE = ROUTER_FEATURES.index("model_age_days")


def _signals(rng: np.random.Generator, n: int, *, prior_age_days: float | None = None, value: float = 0.0) -> list[RouteSignals]:
    """Edge outputs of n requests, with random prior ages (0-70 days) unless given."""
    out = []
    for _ in range(n):
        ids = rng.permutation(np.arange(1, 200))[:16].astype(np.int32)
        scores = -np.sort(-rng.normal(size=16)).astype(np.float32)
        hist = np.concatenate([ids[: rng.integers(0, 8)], np.zeros(8, np.int32)])[:8]
        age = float(rng.uniform(0, 70)) if prior_age_days is None else prior_age_days
        out.append(RouteSignals(EdgeResult(np.zeros(4, np.float32), ids, scores), hist, rng.random(5).astype(np.float32), age, age, value))
    return out


def _model(rng: np.random.Generator, signals: list[RouteSignals]):
    """A gain model where the split route gains with an unsure edge (small margin) and a stale prior."""
    features = np.stack([s.features() for s in signals])
    gains = {"split": -features[:, 0] * 0.05 + features[:, AGE] * 0.001 + rng.normal(0, 0.005, len(features)), "cloud": features[:, 1] * 0.1}
    return fit_gain_model(features, gains), features


def test_gain_model_recovers_a_linear_signal() -> None:
    rng = np.random.default_rng(0)
    model, features = _model(rng, _signals(rng, 2000))
    predicted = model.predict(features, "split")
    assert np.corrcoef(predicted, -features[:, 0] * 0.05 + features[:, AGE] * 0.001)[0, 1] > 0.95


def test_router_features_match_one_by_one_and_batched() -> None:
    rng = np.random.default_rng(1)
    ids = np.stack([rng.permutation(np.arange(1, 100))[:16] for _ in range(3)])
    scores = -np.sort(-rng.normal(size=(3, 16)), axis=1)
    hist = np.stack([np.concatenate([ids[r, :4], np.zeros(4, int)]) for r in range(3)])
    ctx = rng.random((3, 5))
    batched = router_features(ids, scores, hist, ctx, np.array([1.0, 2.0, 3.0]))
    for row in range(3):
        np.testing.assert_allclose(router_features(ids[row], scores[row], hist[row], ctx[row], float(row + 1))[0], batched[row], rtol=1e-6)
    assert batched[0, ROUTER_FEATURES.index("repeat_share_candidates")] == pytest.approx(4 / 16)


@pytest.mark.parametrize("target", [0.1, 0.3, 0.7])
def test_learned_policy_holds_the_target_fraction(target: float) -> None:
    rng = np.random.default_rng(2)
    signals = _signals(rng, 2000)
    model, features = _model(rng, signals)
    router = Router(RouterConfig(policy="learned", target_cloud_fraction=target), model)
    link = CloudLink(Endpoint("c", "127.0.0.1:1"))
    routes = [router.decide(s, None, 1.0, [link]).route for s in signals]
    assert abs(np.mean([r == "split" for r in routes[200:]]) - target) < 0.05
    chosen = np.array([r == "split" for r in routes])
    assert features[chosen, 0].mean() < features[~chosen, 0].mean()  # it sends the requests that gain most


def test_a_stale_prior_sends_more_requests_to_the_cloud() -> None:
    rng = np.random.default_rng(4)
    model, _ = _model(rng, _signals(rng, 2000))
    link = CloudLink(Endpoint("c", "127.0.0.1:1"))
    shares = {}
    for age in (1.0, 60.0):  # one router per device, the same release and target: the fleet-wide price of a call
        router = Router(RouterConfig(policy="learned", target_cloud_fraction=0.3), model)
        shares[age] = np.mean([router.decide(s, None, 1.0, [link]).route == "split" for s in _signals(rng, 600, prior_age_days=age)])
    assert shares[60.0] > shares[1.0] + 0.1 and shares[60.0] <= 0.35, shares


def test_the_controllers_price_of_a_call_spends_the_budget_on_stale_devices() -> None:
    rng = np.random.default_rng(8)
    model, _ = _model(rng, _signals(rng, 2000))
    link = CloudLink(Endpoint("c", "127.0.0.1:1"))
    price = model.threshold_for(0.4)  # what the fleet controller holds: one price for every device of the release
    shares = {}
    for age in (0.5, 30.0, 60.0):  # the per-device fraction is only a cap (0.6): the price decides
        router = Router(RouterConfig(policy="learned", target_cloud_fraction=0.6, budget_multiplier=price), model)
        sent = [router.decide(s, None, 1.0, [link]).route == "split" for s in _signals(rng, 600, prior_age_days=age)]
        shares[age] = float(np.mean(sent))
    assert shares[0.5] < 0.15 and shares[30.0] > shares[0.5] + 0.1 and shares[60.0] > shares[30.0] + 0.1, shares
    assert shares[60.0] <= 0.6 + 0.05, shares
    with pytest.raises(ValueError, match="budget_multiplier"):
        RouterConfig(policy="learned", budget_multiplier=float("nan"))


def test_valuable_requests_and_a_lossy_link_weigh_the_score() -> None:
    rng = np.random.default_rng(5)
    model, _ = _model(rng, _signals(rng, 2000))
    router = Router(RouterConfig(policy="learned", target_cloud_fraction=0.5), model)
    link = CloudLink(Endpoint("c", "127.0.0.1:1"))
    signals = _signals(rng, 1000, prior_age_days=30.0)
    valued = [RouteSignals(s.result, s.hist_items, s.context, 30.0, 30.0, value=10.0 if i % 2 else 1.0) for i, s in enumerate(signals)]
    routes = [router.decide(s, None, 1.0, [link]).route for s in valued]
    high = np.mean([r == "split" for r in routes[201::2]])
    low = np.mean([r == "split" for r in routes[200::2]])
    assert high > low + 0.3, (high, low)
    score = router._score(signals[0], [link])
    link.loss = 0.5
    assert router._score(signals[0], [link]) == pytest.approx(score * 0.5, rel=1e-3)


def test_failover_keeps_the_route_and_a_degradation_is_the_routers_call() -> None:
    router = Router(RouterConfig(policy="cloud"), None)
    first, second = CloudLink(Endpoint("a", "127.0.0.1:1")), CloudLink(Endpoint("b", "127.0.0.1:2"))
    decision = router.decide(None, None, 1.0, [first, second])
    assert (decision.route, decision.link) == ("cloud", first) and not decision.degraded
    assert router.failover(decision, first, 1.0, [first, second]) is second
    assert router.failover(Decision("split", first), first, 1.0, [first, second]) is second
    too_short = router.decide(None, None, 0.001, [first])
    assert too_short.route == "local" and too_short.degraded  # the policy wanted the cloud: a local answer is a degradation
    learned = Router(RouterConfig(policy="learned", target_cloud_fraction=1.0), _model(np.random.default_rng(6), _signals(np.random.default_rng(6), 300))[0])
    kept = learned.decide(_signals(np.random.default_rng(7), 1)[0], None, 0.001, [first])
    assert kept.route == "local" and kept.reason == "deadline too short for the cloud" and not kept.degraded  # routing, not degradation
    forced = learned.decide(_signals(np.random.default_rng(7), 1)[0], "split", 0.001, [first])
    assert forced.route == "local" and forced.degraded


def test_only_a_choosing_policy_reads_the_signals() -> None:
    model = _model(np.random.default_rng(6), _signals(np.random.default_rng(6), 300))[0]
    link = CloudLink(Endpoint("a", "127.0.0.1:1"))
    for policy in ("local", "split", "cloud", "threshold", "learned"):
        router = Router(RouterConfig(policy=policy), model)
        assert router.needs_signals(None) == (policy in ("threshold", "learned"))
        assert not router.needs_signals("split")
        if not router.needs_signals(None):  # the agent skips building them: the decision must not need them
            assert router.decide(None, None, 1.0, [link]).route == ("local" if policy == "local" else policy)
        assert router.decide(None, "cloud", 1.0, [link]).route == "cloud"


def test_budget_caps_the_fraction_and_config_changes_live() -> None:
    rng = np.random.default_rng(3)
    model, _ = _model(rng, _signals(rng, 500))
    router = Router(RouterConfig(policy="learned", target_cloud_fraction=0.5, budget_usd_per_hour=1.0), model)
    link = CloudLink(Endpoint("c", "127.0.0.1:1", usd_per_call=0.001))
    router._arrivals.extend([0.0, 3.6])  # one request per 3.6 s = 1,000 per hour -> $1/h pays for every request
    assert router.target_fraction([link]) == pytest.approx(0.5)
    router._arrivals.extend([3.6 + i * 0.0036 for i in range(1, 101)])  # now about 100,000 per hour
    assert router.target_fraction([link]) < 0.05
    router.update(policy="local")
    assert router.decide(None, None, 1.0, [link]).route == "local"
    with pytest.raises(ValueError, match="policy"):
        router.update(policy="nonsense")
    assert router.config.policy == "local"


def test_latency_check_keeps_short_deadlines_local() -> None:
    router = Router(RouterConfig(policy="split"), None)
    link = CloudLink(Endpoint("c", "127.0.0.1:1"))
    link.rtt_s, link.queue_wait_s = 0.03, 0.02
    assert router.decide(None, None, 0.04, [link]).reason == "deadline too short for the cloud"
    assert router.decide(None, None, 0.2, [link]).route == "split"
    link._last_probe -= PROBE_EVERY_S  # a second on: one call goes anyway, so a link judged too slow is measured again
    assert router.decide(None, None, 0.04, [link]).route == "split"
    assert router.decide(None, None, 0.04, [link]).reason == "deadline too short for the cloud"


def test_breaker_opens_half_opens_and_closes() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures_to_open=3, open_s=1.0, clock=lambda: now[0])
    for _ in range(3):
        assert breaker.allow()
        breaker.record(False)
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 1.5
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.record(True)
    assert breaker.state == "closed"


def test_a_probe_that_never_reports_does_not_keep_the_breaker_open() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures_to_open=1, open_s=1.0, clock=lambda: now[0])
    breaker.record(False)
    now[0] = 1.0
    assert breaker.allow()  # the probe's request gives up before its call goes out: no record()
    now[0] = 1.5
    assert not breaker.allow()  # still one probe at a time
    now[0] = 2.0
    assert breaker.allow()  # it used to stay shut for good
    breaker.record(True)
    assert breaker.state == "closed"


def test_retry_budget_limits_retries_to_a_share_of_calls() -> None:
    budget = RetryBudget(ratio=0.1, burst=2.0, tokens=0.0)
    granted = 0
    for _ in range(100):
        budget.earn()
        granted += budget.spend()
    assert granted == 10


def test_parse_endpoints() -> None:
    assert parse_endpoints("private=10.0.0.5:50051@0.00001;public=cloud.example:443@0.00004") == [
        Endpoint("private", "10.0.0.5:50051", 0.00001), Endpoint("public", "cloud.example:443", 0.00004)]
    with pytest.raises(ValueError, match="host:port"):
        parse_endpoints("bad")


def test_deadline_margin_follows_the_agents_own_tail() -> None:
    margin = DeadlineMargin(floor_ms=10.0, ceiling_ms=50.0, initial_ms=8.0)
    assert margin.seconds() == pytest.approx(0.026)  # floor + the cautious first guesses
    margin.observe_lateness(0.03)  # a stall before the tail is known counts in full
    assert margin.seconds() == pytest.approx(0.048)
    for _ in range(300):  # a calm agent: its work and timers are quick (the early stall leaves the window)
        margin.observe_work(0.0005)
        margin.observe_lateness(0.0002)
    assert margin.seconds() == pytest.approx(0.0107, abs=2e-4)
    margin.observe_lateness(0.02)  # one timer 20 ms late: the margin covers it for the next 255 samples
    for _ in range(31):
        margin.observe_lateness(0.0002)
    assert margin.seconds() == pytest.approx(0.0305, abs=2e-4)
    for _ in range(256):
        margin.observe_lateness(0.5)
    assert margin.seconds() == pytest.approx(0.05)  # never more than the ceiling


@pytest.mark.parametrize("field", ["budget_usd_per_hour", "cloud_timeout_ms", "target_cloud_fraction", "latency_margin_ms"])
def test_nan_in_a_pushed_config_is_refused_and_the_old_config_stays(field: str) -> None:
    router = Router(RouterConfig(policy="threshold"), None)
    with pytest.raises(ValueError):
        router.update(**{field: float("nan")})
    assert router.config == RouterConfig(policy="threshold")
