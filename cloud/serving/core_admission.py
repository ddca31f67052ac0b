"""Admission in gRPC's C core, for calls no Python code has taken yet.

grpc.aio takes calls from the core one at a time on its event loop. When arrivals saturate the
loop's core, calls wait in the core's list of pending (unrequested) calls, where neither
``maximum_concurrent_rpcs`` nor the handler's admission sees them: they wait until their deadline,
and past the core's default bound (1,000) it drops them at random, which the client sees as
CANCELLED. Two channel arguments bound that list far lower (``core_admission_options``); past
the soft bound the core refuses new calls at random, more often as the list grows, and always past
the hard bound, in C, without running any Python.

How the refusal reaches the client depends on the server's HTTP/2 transport. The default one drops
the call (CANCELLED: the client cannot tell it from a hang); gRPC's promise-based HTTP/2 server
transport (the ``ph2_server`` experiment of grpcio >= 1.85) answers RESOURCE_EXHAUSTED "Too many
pending requests for this server", which clients retry elsewhere. Experiments are read from the
``GRPC_EXPERIMENTS`` environment variable once, when the process first initialises gRPC, so a
server process must be started with ``core_admission_environment()`` (``serve-cloud`` starts its
worker processes so). Without it the bound stays at gRPC's default: a tight bound would only turn
late answers into drops.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

SHEDDING_EXPERIMENT = "ph2_server"
"""gRPC experiment whose server transport answers the core's refusals with RESOURCE_EXHAUSTED."""


def sheds_with_resource_exhausted(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``environ`` (default: this process's) enables ``SHEDDING_EXPERIMENT``."""
    listed = (os.environ if environ is None else environ).get("GRPC_EXPERIMENTS", "")
    return SHEDDING_EXPERIMENT in (name.strip() for name in listed.split(","))


def core_admission_options(max_batch_size: int, environ: Mapping[str, str] | None = None) -> list[tuple[str, int]]:
    """Channel arguments that bound the calls waiting in the core for the event loop: past a quarter of a
    batch of them (soft) the core starts refusing new calls, past half a batch (hard) it refuses them all.
    The loop takes a pending call in microseconds when it keeps up, so calls waiting there are pure queueing
    added to the latency of every call accepted after them (the batcher's own queue is bounded apart). At
    twice the capacity in ``splitrank bench cloud`` (batch 64), 64/128 held accepted calls 46 ms (p50),
    32/64 27 ms, 24/48 23 ms, 16/32 18 ms; once the split path got cheaper, 16/32 kept the overload p99 at
    2.6-2.7x the half-load p99 where 24/48 gave 2.8-3.8x, both shedding about 1% at half the capacity (README).
    At the default batch of 32 the bound is 8/16. None (gRPC's defaults) unless the process's transport answers such refusals with RESOURCE_EXHAUSTED."""
    if not sheds_with_resource_exhausted(environ):
        return []
    hard = max(max_batch_size // 2, 16)
    return [("grpc.server.max_pending_requests", hard // 2), ("grpc.server.max_pending_requests_hard_limit", hard)]


def core_admission_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) with ``SHEDDING_EXPERIMENT`` added to ``GRPC_EXPERIMENTS``:
    the environment to start a server process in (experiments listed there already are kept)."""
    env = dict(os.environ if environ is None else environ)
    listed = [name.strip() for name in env.get("GRPC_EXPERIMENTS", "").split(",") if name.strip()]
    if SHEDDING_EXPERIMENT not in listed and f"-{SHEDDING_EXPERIMENT}" not in listed:  # "-name" is an explicit opt-out
        listed.append(SHEDDING_EXPERIMENT)
    env["GRPC_EXPERIMENTS"] = ",".join(listed)
    return env
