"""Timed replay of held-out traffic: each test-period basket becomes one SDK request to its
customer's device (customers are spread over the agents), sent at a fixed rate in time order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cloud.data.examples import Examples
from splitrank.client import AsyncClient, SplitrankError
from splitrank.reports.replay import sdk_history


@dataclass(frozen=True)
class Request:
    """One replayed request and who sends it."""

    example: int
    agent: int
    history: list[tuple[str, float, float]]
    context: dict[str, float]


@dataclass
class Outcome:
    """What came back."""

    example: int
    agent: int
    sent_at: float
    latency_ms: float
    item_ids: list[str]
    route: str
    degraded: bool
    edge_us: int
    error: str = ""


def build_requests(examples: Examples, rows: np.ndarray, codes: list[str], unix_time_s: np.ndarray, agents: int) -> list[Request]:
    """The requests of a sample of examples, in time order; a customer always uses the same agent."""
    out = []
    for row in rows[np.argsort(unix_time_s[rows], kind="stable")]:
        history = sdk_history(examples, int(row), codes)
        days_since_last = float(np.expm1(examples.context[row][2] * 6.0))  # the context features store log1p(x) / 6
        baskets = round(float(np.expm1(examples.context[row][3] * 6.0)))
        user = int(examples.user[row]) if len(examples.user) else int(row)
        out.append(Request(int(row), user % agents, history,
                           {"unix_time_s": int(unix_time_s[row]), "days_since_last_basket": days_since_last, "previous_baskets": baskets}))
    return out


async def replay(requests: list[Request], addresses: list[str], *, rate_per_s: float, deadline_s: float,
                 progress: Callable[[int, int], None] = lambda done, total: None, on_day: Callable[[int], None] | None = None) -> list[Outcome]:
    """Send every request at its slot; returns outcomes in request order. ``on_day(unix day)`` runs (in a thread, the
    clock paused) before the first request of each day: the simulated clock's hook."""
    clients = [AsyncClient(address) for address in addresses]
    outcomes: list[Outcome | None] = [None] * len(requests)
    done = 0

    async def one(index: int, request: Request) -> None:
        nonlocal done
        started = time.perf_counter()
        try:
            answer = await clients[request.agent].rank(request.history, context=request.context, k=10, deadline_s=deadline_s)
            outcomes[index] = Outcome(request.example, request.agent, started, (time.perf_counter() - started) * 1000, answer.item_ids,
                                      answer.route, answer.degraded, answer.timings.edge_us)
        except SplitrankError as err:
            outcomes[index] = Outcome(request.example, request.agent, started, (time.perf_counter() - started) * 1000, [], "failed",
                                      False, 0, err.code.name if err.code else str(err))
        done += 1
        progress(done, len(requests))

    start = time.monotonic()
    tasks = []
    day = None
    for index, request in enumerate(requests):
        if on_day is not None and request.context["unix_time_s"] // 86400 != day:
            day = request.context["unix_time_s"] // 86400
            paused = time.monotonic()
            await asyncio.to_thread(on_day, int(day))
            start += time.monotonic() - paused
        delay = start + index / rate_per_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(index, request)))
    await asyncio.gather(*tasks)
    for client in clients:
        await client.close()
    return [o for o in outcomes if o is not None]
