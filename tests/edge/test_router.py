"""Router policies, the cloud-fraction controller, the latency check and the resilience primitives."""

from __future__ import annotations

import numpy as np
import pytest

from core.gain_model import ROUTER_FEATURES, fit_gain_model, router_features
from edge.link import CloudLink, Endpoint, parse_endpoints
from edge.resilience import CircuitBreaker, RetryBudget
from edge.router import Router, RouterConfig


def _model(rng: np.random.Generator):
    features = rng.normal(size=(2000, len(ROUTER_FEATURES)))
    gains = {"split": features[:, 0] * 0.1 + rng.normal(0, 0.01, 2000), "cloud": features[:, 1] * 0.1}
    return fit_gain_model(features, gains), features


def test_gain_model_recovers_a_linear_signal() -> None:
    model, features = _model(np.random.default_rng(0))
    predicted = model.predict(features, "split")
    assert np.corrcoef(predicted, features[:, 0])[0, 1] > 0.99


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
    model, features = _model(np.random.default_rng(2))
    router = Router(RouterConfig(policy="learned", target_cloud_fraction=target), model)
    link = CloudLink(Endpoint("c", "127.0.0.1:1"))
    routes = [router.decide(f, None, 1.0, [link]).route for f in features]
    assert abs(np.mean([r == "split" for r in routes[200:]]) - target) < 0.05
    chosen = np.array([r == "split" for r in routes])
    assert features[chosen, 0].mean() > features[~chosen, 0].mean()  # it sends the requests that gain most


def test_budget_caps_the_fraction_and_config_changes_live() -> None:
    model, _ = _model(np.random.default_rng(3))
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


@pytest.mark.parametrize("field", ["budget_usd_per_hour", "cloud_timeout_ms", "target_cloud_fraction", "latency_margin_ms"])
def test_nan_in_a_pushed_config_is_refused_and_the_old_config_stays(field: str) -> None:
    router = Router(RouterConfig(policy="threshold"), None)
    with pytest.raises(ValueError):
        router.update(**{field: float("nan")})
    assert router.config == RouterConfig(policy="threshold")
