"""The demo's report: per policy quality, latency, cloud share, bytes, privacy, compute, energy and
dollars, as one JSON object, a table and PNG plots."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from cloud.data.examples import Examples
from cloud.evaluation import per_example_metrics
from core.costs import Prices, request_cost
from splitrank.demo.replay import Outcome

CLOUD_ROUTES = ("split", "cloud")


def summarize(outcomes: list[Outcome], examples: Examples, index: dict[str, int], *, compute_s: float, bytes_up: int, bytes_down: int,
              raw_history_bytes: int, prices: Prices, gpu: bool) -> dict[str, Any]:
    """The figures of one policy's run."""
    n = max(len(outcomes), 1)
    rankings = np.zeros((len(outcomes), 20), np.int64)
    for row, outcome in enumerate(outcomes):
        ids = [index.get(code, 0) for code in outcome.item_ids[:20]]
        rankings[row, : len(ids)] = ids
    per = per_example_metrics(examples, rankings, np.array([o.example for o in outcomes]))
    latency = np.array([o.latency_ms for o in outcomes])
    failed = [o for o in outcomes if o.error]
    edge_s = float(np.mean([o.edge_us for o in outcomes])) / 1e6
    cost = request_cost(prices, cloud_compute_s=compute_s / n, bytes_up=bytes_up / n, bytes_down=bytes_down / n, edge_compute_s=edge_s, gpu=gpu)
    return {
        "requests": len(outcomes), "ndcg_at_10": float(np.nansum(per["ndcg_at_10"]) / n), "hit_rate_at_10": float(np.nansum(per["hit_rate_at_10"]) / n),
        "p50_ms": float(np.percentile(latency, 50)), "p95_ms": float(np.percentile(latency, 95)), "p99_ms": float(np.percentile(latency, 99)),
        "deadline_misses": sum(o.error == "DEADLINE_EXCEEDED" for o in outcomes), "failed": len(failed),
        "errors": dict(Counter(o.error for o in failed)),
        "cloud_share": sum(o.route in CLOUD_ROUTES for o in outcomes) / n, "degraded_share": sum(o.degraded for o in outcomes) / n,
        "bytes_up_per_request": bytes_up / n, "bytes_down_per_request": bytes_down / n, "raw_history_bytes_sent": raw_history_bytes,
        "cloud_compute_s": compute_s, "device_energy_mj_per_request": cost.device_joules * 1000, "usd_per_million": cost.usd * 1e6,
        "usd_per_million_parts": {"hardware": cost.hardware_usd * 1e6, "energy": cost.energy_usd * 1e6, "operations": cost.operations_usd * 1e6,
                                  "egress": cost.egress_usd * 1e6},
    }


def request_ndcg(outcomes: list[Outcome], examples: Examples, index: dict[str, int]) -> np.ndarray:
    """NDCG@10 [len(outcomes)] of each answer (0 for a failed request or a basket of unknown items, as in the means)."""
    rankings = np.zeros((len(outcomes), 20), np.int64)
    for row, outcome in enumerate(outcomes):
        ids = [index.get(code, 0) for code in outcome.item_ids[:20]]
        rankings[row, : len(ids)] = ids
    if not outcomes:
        return np.zeros(0)
    return np.nan_to_num(per_example_metrics(examples, rankings, np.array([o.example for o in outcomes], np.int64))["ndcg_at_10"])


def _group(outcomes: list[Outcome], examples: Examples, index: dict[str, int]) -> dict[str, Any]:
    """The figures of one group of a policy's requests (an agent's, a network profile's)."""
    n = max(len(outcomes), 1)
    latency = [o.latency_ms for o in outcomes]
    return {"requests": len(outcomes), "ndcg_at_10": float(request_ndcg(outcomes, examples, index).sum() / n),
            "cloud_share": sum(o.route in CLOUD_ROUTES for o in outcomes) / n, "degraded_share": sum(o.degraded for o in outcomes) / n,
            "p50_ms": float(np.percentile(latency, 50)) if outcomes else 0.0, "p99_ms": float(np.percentile(latency, 99)) if outcomes else 0.0,
            "failed": sum(bool(o.error) for o in outcomes)}


def per_agent(outcomes: list[Outcome], examples: Examples, index: dict[str, int], agents: list[tuple[str, str]],
              stale_window: set[int]) -> dict[str, dict[str, Any]]:
    """Per agent (device id -> its network profile, requests, NDCG@10, cloud share, p99), and its cloud share over the
    requests of the window one agent spent offline (``stale_window``: example ids), to compare it with the fresh ones."""
    out = {}
    for number, (device_id, profile) in enumerate(agents):
        mine = [o for o in outcomes if o.agent == number]
        window = [o for o in mine if o.example in stale_window]
        out[device_id] = {"profile": profile, **_group(mine, examples, index), "stale_window_requests": len(window),
                          "stale_window_cloud_share": sum(o.route in CLOUD_ROUTES for o in window) / max(len(window), 1)}
    return out


def per_profile(outcomes: list[Outcome], examples: Examples, index: dict[str, int], agents: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Per network profile (the agents on it together): requests, NDCG@10, cloud and degraded share, p50, p99, failed."""
    profiles = [profile for _, profile in agents]
    return {profile: _group([o for o in outcomes if profiles[o.agent] == profile], examples, index) for profile in dict.fromkeys(profiles)}


def comparison(policies: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Routed against always-cloud: the ratios the demo is judged on."""
    local, cloud, routed = policies["local"], policies["cloud"], policies["routed"]
    gain = cloud["ndcg_at_10"] - local["ndcg_at_10"]

    def ratio(a: float, b: float) -> float:
        return a / b if b else float("nan")

    return {"routed_share_of_cloud_gain": ratio(routed["ndcg_at_10"] - local["ndcg_at_10"], gain),
            "routed_compute_ratio": ratio(routed["cloud_compute_s"], cloud["cloud_compute_s"]),
            "routed_usd_ratio": ratio(routed["usd_per_million"], cloud["usd_per_million"]),
            "routed_p99_ratio": ratio(routed["p99_ms"], cloud["p99_ms"])}


def write_plots(report_dir: Path, policies: dict[str, dict[str, Any]], outcomes: dict[str, list[Outcome]],
                curve: dict[str, Any] | None = None) -> list[Path]:
    """NDCG@10 against cloud share (with the router's curve, ``curve["points"]``, when given), latency CDFs, the
    routed policy's route mix over time, and NDCG@10 and cloud share per network profile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(6, 4))
    if curve:
        points = sorted(curve["points"], key=lambda point: point["cloud_share"])
        ax.plot([p["cloud_share"] for p in points], [p["ndcg_at_10"] for p in points], "-", color="grey", marker=".",
                label="learned router, one point per price of a call")
        ax.legend(loc="lower right", fontsize=8)
    for name, row in policies.items():
        ax.scatter(row["cloud_share"], row["ndcg_at_10"], s=60, zorder=3)
        ax.annotate(name, (row["cloud_share"], row["ndcg_at_10"]), textcoords="offset points", xytext=(6, 4))
    ax.set(xlabel="share of requests sent to the cloud", ylabel="NDCG@10", title="Quality against cloud use")
    ax.grid(alpha=0.3)
    paths.append(report_dir / "ndcg_vs_cloud_share.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, runs in outcomes.items():
        latency = np.sort([o.latency_ms for o in runs])
        ax.plot(latency, np.arange(1, len(latency) + 1) / len(latency), label=f"{name} (p99 {policies[name]['p99_ms']:.0f} ms)")
    ax.set(xscale="log", xlabel="latency seen by the app (ms)", ylabel="share of requests", title="Latency CDF")
    ax.legend()
    ax.grid(alpha=0.3)
    paths.append(report_dir / "latency_cdf.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    routed = outcomes.get("routed", [])
    if routed:
        bins = np.array_split(np.arange(len(routed)), min(20, len(routed)))
        shares = {route: [np.mean([routed[i].route == route for i in b]) for b in bins] for route in ("local", "split", "cloud", "failed")}
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.stackplot(np.arange(len(bins)), *shares.values(), labels=list(shares))
        ax.set(xlabel="replay time (20 slices)", ylabel="share of requests", title="Routed: route mix over time", ylim=(0, 1))
        ax.legend(loc="upper right")
        paths.append(report_dir / "route_mix.png")
        fig.tight_layout()
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)

    profiles = list(dict.fromkeys(profile for row in policies.values() for profile in row.get("profiles", {})))
    if profiles:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        width = 0.8 / len(policies)
        for number, (name, row) in enumerate(policies.items()):
            at = np.arange(len(profiles)) + number * width
            for ax, key in zip(axes, ("ndcg_at_10", "cloud_share"), strict=True):
                ax.bar(at, [row["profiles"].get(profile, {}).get(key, 0.0) for profile in profiles], width, label=name)
        for ax, title in zip(axes, ("NDCG@10", "share of requests sent to the cloud"), strict=True):
            ax.set(xticks=np.arange(len(profiles)) + 0.4 - width / 2, xticklabels=profiles, title=f"{title} per network profile")
        axes[0].set_ylim(bottom=min((r["profiles"][p]["ndcg_at_10"] for r in policies.values() for p in r.get("profiles", {})), default=0) * 0.9)
        axes[1].legend(fontsize=8)
        paths.append(report_dir / "by_profile.png")
        fig.tight_layout()
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths


def table(policies: dict[str, dict[str, Any]]) -> list[str]:
    """The report as text lines."""
    columns = [("ndcg_at_10", "NDCG@10", "{:.4f}"), ("hit_rate_at_10", "HR@10", "{:.4f}"), ("p50_ms", "p50 ms", "{:.1f}"),
               ("p95_ms", "p95 ms", "{:.1f}"), ("p99_ms", "p99 ms", "{:.1f}"), ("deadline_misses", "misses", "{}"), ("failed", "failed", "{}"),
               ("cloud_share", "cloud", "{:.0%}"), ("bytes_up_per_request", "B up/req", "{:.0f}"), ("bytes_down_per_request", "B down/req", "{:.0f}"),
               ("raw_history_bytes_sent", "history B out", "{}"), ("cloud_compute_s", "cloud s", "{:.2f}"),
               ("device_energy_mj_per_request", "mJ/req", "{:.2f}"), ("usd_per_million", "USD/M req", "{:.3f}")]
    lines = [f"{'policy':<11}" + "".join(f"{title:>14}" for _, title, _ in columns)]
    for name, row in policies.items():
        lines.append(f"{name:<11}" + "".join(f"{fmt.format(row[key]):>14}" for key, _, fmt in columns))
    return lines


def profile_table(policies: dict[str, dict[str, Any]]) -> list[str]:
    """Per policy and network profile: requests, NDCG@10, cloud and degraded share, p50, p99, failed."""
    lines = [f"{'policy':<11}{'profile':<9}{'requests':>9}{'NDCG@10':>9}{'cloud':>7}{'degraded':>9}{'p50 ms':>8}{'p99 ms':>8}{'failed':>7}"]
    for name, row in policies.items():
        for profile, group in row.get("profiles", {}).items():
            lines.append(f"{name:<11}{profile:<9}{group['requests']:>9}{group['ndcg_at_10']:>9.4f}{group['cloud_share']:>7.0%}"
                         f"{group['degraded_share']:>9.0%}{group['p50_ms']:>8.1f}{group['p99_ms']:>8.1f}{group['failed']:>7}")
    return lines


def agent_table(policies: dict[str, dict[str, Any]]) -> list[str]:
    """Per policy and agent (network profile): NDCG@10, cloud share, p99, and the cloud share while one agent was offline."""
    lines = [f"{'policy':<11}{'agent':<18}{'profile':<8}{'NDCG@10':>9}{'cloud':>7}{'p99 ms':>8}{'cloud while one was offline':>29}"]
    for name, row in policies.items():
        for device_id, agent in row.get("agents", {}).items():
            window = f"{agent['stale_window_cloud_share']:.0%} of {agent['stale_window_requests']}" if agent["stale_window_requests"] else "-"
            lines.append(f"{name:<11}{device_id:<18}{agent['profile']:<8}{agent['ndcg_at_10']:>9.4f}{agent['cloud_share']:>7.0%}"
                         f"{agent['p99_ms']:>8.1f}{window:>29}")
    return lines
