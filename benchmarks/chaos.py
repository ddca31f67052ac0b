"""``splitrank bench chaos``: faults one after another under a steady SDK load, with recovery in between.

The demo stack (cloud server, a real mosquitto with persistence, the fleet manager, agents that keep
customer histories, each behind a network-emulating proxy) serves a steady SDK load on the split route while
these faults are injected:

- ``cloud_kill``: SIGKILL the cloud server, start it again on its port;
- ``cloud_stop``: SIGSTOP it for 5 s, then SIGCONT (a frozen process: connections open, no answers);
- ``network_cut``: every agent's link to the cloud goes down for 5 s (the proxy cuts and refuses connections);
- ``broker_kill``: SIGKILL mosquitto, start it again 3 s later with what it persisted;
- ``agent_restart``: restart an agent (SIGTERM, start): the same user's ranking before and after shows the
  histories survived; the app's load on that agent pauses while it is down (there is no agent to answer);
- ``disk_full``: the first agent's telemetry outbox lives on a 1 MiB tmpfs (mounted when run as root), filled
  with a ballast file for 10 s, then freed: the device must hold its telemetry and deliver it after;
- ``clock_step``: every device's wall clock (``SPLITRANK_CLOCK_OFFSET_FILE``, see ``core/clock.py``) jumps a day
  forward, then two days back, with a prior push while it is behind, then back to true time.

Figures: ``failed`` (SDK requests that raised: the agent answers locally while the cloud is away, so 0),
``telemetry_lost`` (sequence numbers the devices issued that the manager never counted), ``duplicates``
(messages counted twice; redeliveries the manager recognised by sequence number are ``duplicates_dropped``),
``recovery_s`` (fault -> seconds from the fault's end until split calls succeed again on every agent, or
telemetry flows again from every device) and the details of each fault.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.steady_load import SteadyLoad, write_histories
from core.clock import CLOCK_OFFSET_ENV
from splitrank.client import Client
from splitrank.demo.stack import DemoStack
from splitrank.processes import wait_until

RECOVERY_TIMEOUT_S = 120.0
DAY_S = 86400


@dataclass
class Chaos:
    """What the faults act on and measure with."""

    stack: DemoStack
    load: SteadyLoad
    users: list[str]
    clock_file: Path
    outbox_mount: Path | None
    """The tmpfs under the first agent's outbox; None when not root (``disk_full`` is then not run)."""
    say: Callable[[str], None]
    details: dict[str, dict[str, Any]] = field(default_factory=dict)

    def split_ok_since(self, at_s: float, timeout_s: float = RECOVERY_TIMEOUT_S) -> float:
        """Seconds from ``at_s`` (monotonic) until every agent has answered a split call from the cloud (not degraded)."""
        agents = set(range(len(self.stack.agents)))

        def back() -> bool:
            return {a.agent for a in self.load.since(at_s) if a.ok and not a.degraded} >= agents

        wait_until(back, timeout_s, "split calls to succeed again", poll_s=0.1)
        firsts = {}
        for answer in self.load.since(at_s):
            if answer.ok and not answer.degraded:
                firsts.setdefault(answer.agent, answer.at_s)
        return round(max(firsts.values()) - at_s, 2)

    def telemetry_flowing_since(self, at_s: float, timeout_s: float = RECOVERY_TIMEOUT_S) -> float:
        """Seconds from ``at_s`` (monotonic) until the manager has counted every seq each device issued until ``at_s``,
        and a newer one from each (telemetry is flowing again, nothing it held back is missing)."""
        manager = self.stack.manager
        assert manager is not None
        issued = self.issued()

        def flowing() -> bool:
            with manager._lock:
                return all(d in manager.devices and manager.devices[d].seqs >= set(range(1, n + 1)) and max(manager.devices[d].seqs) > n
                           for d, n in issued.items())

        wait_until(flowing, timeout_s, "telemetry to flow again", poll_s=0.1)
        return round(time.monotonic() - at_s, 2)

    def issued(self) -> dict[str, int]:
        """The last telemetry seq each device has issued (its outbox counter on disk)."""
        out = {}
        for agent in self.stack.agents:
            counter = agent.state_dir / "outbox" / "seq"
            out[agent.device_id] = int(counter.read_text()) if counter.is_file() else 0
        return out


def _cloud_kill(chaos: Chaos) -> dict[str, Any]:
    started = time.monotonic()
    chaos.stack.signal_cloud(signal.SIGKILL)
    time.sleep(2.0)  # requests meanwhile: answered locally, degraded
    chaos.stack.start_cloud(wait=True)
    restarted = time.monotonic()
    return {"restart_s": round(restarted - started, 2), "recovery_s": round(restarted - started + chaos.split_ok_since(restarted), 2)}


def _cloud_stop(chaos: Chaos) -> dict[str, Any]:
    chaos.stack.signal_cloud(signal.SIGSTOP)
    time.sleep(5.0)
    chaos.stack.signal_cloud(signal.SIGCONT)
    resumed = time.monotonic()
    return {"stopped_s": 5.0, "recovery_s": chaos.split_ok_since(resumed)}


def _network_cut(chaos: Chaos) -> dict[str, Any]:
    stack = chaos.stack
    for agent in stack.agents:
        stack.loop.call_soon_threadsafe(agent.proxy.down)
    time.sleep(5.0)
    for agent in stack.agents:
        stack.loop.call_soon_threadsafe(agent.proxy.up)
    healed = time.monotonic()
    return {"down_s": 5.0, "recovery_s": chaos.split_ok_since(healed)}


def _broker_kill(chaos: Chaos) -> dict[str, Any]:
    chaos.stack.kill_broker()
    time.sleep(3.0)  # devices keep producing telemetry into their outboxes
    chaos.stack.restart_broker()
    restarted = time.monotonic()
    return {"down_s": 3.0, "recovery_s": chaos.telemetry_flowing_since(restarted)}


def _ranking(address: str, user: str) -> list[str]:
    with Client(address) as client:
        return client.rank(user_id=user, route="local", deadline_s=5.0).item_ids


def _agent_restart(chaos: Chaos) -> dict[str, Any]:
    index = len(chaos.stack.agents) - 1
    agent = chaos.stack.agents[index]
    user = chaos.users[0]
    before, anonymous = _ranking(agent.address, user), _ranking(agent.address, "nobody-at-all")
    chaos.load.pause(index)
    started = time.monotonic()
    try:
        chaos.stack.restart_agent(agent)
    finally:
        chaos.load.resume(index)
    answering = time.monotonic()
    after = _ranking(agent.address, user)
    if after != before:
        raise RuntimeError(f"{agent.device_id}: the ranking of {user} changed across the restart: {before} -> {after}")
    return {"agent": agent.device_id, "user": user, "history_survived": after == before and before != anonymous,
            "answering_s": round(answering - started, 2),
            "recovery_s": round(answering - started + chaos.telemetry_flowing_since(answering), 2)}


def _fill(directory: Path) -> Path:
    """A ballast file that takes every free block under ``directory``."""
    ballast = directory / "ballast"
    with ballast.open("wb", buffering=0) as handle, contextlib.suppress(OSError):  # ENOSPC: full
        while True:
            handle.write(b"\0" * 4096)
    return ballast


def _disk_full(chaos: Chaos) -> dict[str, Any]:
    if chaos.outbox_mount is None:
        return {"run": False, "reason": "not root: cannot mount a small tmpfs under the outbox to fill"}
    agent = chaos.stack.agents[0]
    ballast = _fill(chaos.outbox_mount)
    free = os.statvfs(chaos.outbox_mount)
    issued_before = chaos.issued()[agent.device_id]
    time.sleep(10.0)
    issued_during = chaos.issued()[agent.device_id]  # the counter on disk could not move
    held = len(list((agent.state_dir / "outbox").glob("*.msg")))
    ballast.unlink()
    freed = time.monotonic()
    return {"run": True, "agent": agent.device_id, "full_s": 10.0, "free_blocks_while_full": free.f_bfree,
            "counter_on_disk_moved_while_full": issued_during != issued_before, "messages_on_disk_while_full": held,
            "recovery_s": chaos.telemetry_flowing_since(freed)}


def _clock_step(chaos: Chaos) -> dict[str, Any]:
    stack = chaos.stack
    steps = []
    for offset_s in (DAY_S, -2 * DAY_S):
        chaos.clock_file.write_text(str(offset_s))
        stepped = time.monotonic()
        steps.append({"offset_s": offset_s, "telemetry_s": chaos.telemetry_flowing_since(stepped), "split_s": chaos.split_ok_since(stepped)})
    assert stack.manager is not None
    today = int(time.time()) // DAY_S * DAY_S  # today's prior, pushed while every device's clock is two days behind
    version = stack.push_prior(np.load(stack.bundle / "edge" / "prior.npy"), today)
    states = {r["device_id"]: r["prior_version"] for r in stack.manager.status() if r["device_id"].startswith("demo-")}
    chaos.clock_file.write_text("0")
    back = time.monotonic()
    recovery = max(chaos.telemetry_flowing_since(back), chaos.split_ok_since(back))
    return {"steps": steps, "prior_pushed_while_behind": version, "prior_applied": states, "recovery_s": recovery}


FAULTS: dict[str, Callable[[Chaos], dict[str, Any]]] = {
    "cloud_kill": _cloud_kill, "cloud_stop": _cloud_stop, "network_cut": _network_cut, "broker_kill": _broker_kill,
    "agent_restart": _agent_restart, "disk_full": _disk_full, "clock_step": _clock_step,
}


def _mount_tmpfs(directory: Path, size: str = "1m") -> bool:
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], check=False, capture_output=True).returncode == 0


def run_chaos(bundle: Path, *, faults: list[str] | None = None, profiles: tuple[str, ...] = ("lan", "wifi"), rate_per_s: float = 10.0, deadline_s: float = 2.0,
              settle_s: float = 3.0, progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Run the faults in order under load; returns the figures (see the module's doc)."""
    names = list(FAULTS) if faults is None else faults
    log_dir = Path(tempfile.mkdtemp(prefix="splitrank-chaos-"))
    users = write_histories(bundle, log_dir / "histories.json")
    clock_file = log_dir / "clock-offset"
    clock_file.write_text("0")
    outbox = log_dir / f"demo-00-{profiles[0]}" / "outbox"
    mounted = "disk_full" in names and _mount_tmpfs(outbox)
    stack = DemoStack(bundle, list(profiles), log_dir=log_dir, mosquitto=True, histories=log_dir / "histories.json",
                      agent_env={CLOCK_OFFSET_ENV: str(clock_file)})
    load = SteadyLoad([], users, rate_per_s=rate_per_s, deadline_s=deadline_s, timeline=True)
    chaos: Chaos | None = None
    try:
        stack.start(progress)
        load = SteadyLoad([a.address for a in stack.agents], users, rate_per_s=rate_per_s, deadline_s=deadline_s, timeline=True)
        chaos = Chaos(stack, load, users, clock_file, outbox if mounted else None, progress)
        load.start()
        chaos.split_ok_since(time.monotonic())
        for name in names:
            before = load.summary()
            progress(f"chaos: {name} ...")
            started = time.monotonic()
            details = FAULTS[name](chaos)
            after = load.summary()
            details.update(requests=after["requests"] - before["requests"], failed=after["failed"] - before["failed"],
                           degraded=after["degraded"] - before["degraded"], seconds=round(time.monotonic() - started, 1))
            chaos.details[name] = details
            progress(f"chaos: {name} done: recovered in {details.get('recovery_s', '-')} s, {details['failed']} failed, "
                     f"{details['degraded']} degraded of {details['requests']}")
            time.sleep(settle_s)
        load.stop()
        issued = chaos.issued()
        assert stack.manager is not None
        manager = stack.manager
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: manager.uncounted(issued) == 0, 60, "the manager to count every telemetry message")
        lost = manager.uncounted(issued)
        telemetry = manager.telemetry_summary()
    finally:
        load.stop()
        stack.stop()
        if mounted:
            subprocess.run(["umount", "-l", str(outbox)], check=False, capture_output=True)
    summary = load.summary()
    return {"faults": names, "failed": summary["failed"], "telemetry_lost": lost, "duplicates": telemetry["duplicates_counted"],
            "duplicates_dropped": telemetry["duplicates"], "telemetry_issued": sum(issued.values()),
            "recovery_s": {name: d["recovery_s"] for name, d in chaos.details.items() if "recovery_s" in d},
            "not_run": {name: d["reason"] for name, d in chaos.details.items() if d.get("run") is False},
            "requests": summary["requests"], "degraded": summary["degraded"], "errors": summary["errors"],
            "degraded_reasons": summary["degraded_reasons"], "details": chaos.details,
            "logs": str(log_dir)}

