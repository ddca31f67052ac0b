"""The demo's running system: the cloud server, a broker (the embedded one, or a real mosquitto with
per-device passwords and persistence) and N edge agents as separate processes; a network-emulating TCP
proxy between each agent and the cloud, and one between each agent and the broker (so a device can go
offline); the fleet manager, which also pushes the popularity prior. The chaos and soak benchmarks use it
too: the cloud, the broker and any agent can be killed and started again on the same ports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devices.freshness import PriorChannel
from devices.manager import FleetManager
from devices.mqtt import BrokerAddress
from devices.release import generate_keypair, load_private_key
from splitrank.mosquitto import MosquittoBroker
from splitrank.netem import PROFILES, NetemProxy
from splitrank.ports import free_port
from splitrank.processes import ManagedProcess, agent_ready, port_open, splitrank_command, wait_until


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return children


@dataclass
class Agent:
    """One emulated device."""

    device_id: str
    profile: str
    address: str
    proxy: NetemProxy
    process: ManagedProcess
    broker_link: NetemProxy
    state_dir: Path
    """Its models and telemetry outbox."""


@dataclass
class DemoStack:
    """Start with ``start()``, stop with ``stop()`` (also on errors: every process is terminated)."""

    bundle: Path
    profiles: list[str]
    usd_per_call: float = 0.0
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="splitrank-demo-")))
    agents: list[Agent] = field(default_factory=list)
    mosquitto: bool = False
    """A real mosquitto (MQTT 5, passwords, persistence) instead of the embedded broker."""
    histories: Path | None = None
    """A history file every agent serves requests by user id from."""
    agent_env: dict[str, str] = field(default_factory=dict)
    """More environment for every agent (``SPLITRANK_AGENT_*`` settings)."""

    def __post_init__(self) -> None:
        self._processes: list[ManagedProcess] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.cloud_port, self.metrics_port, self.broker_port = free_port(), free_port(), free_port()
        self.manager: FleetManager | None = None
        self.broker: MosquittoBroker | ManagedProcess | None = None
        self.cloud: ManagedProcess | None = None
        self._password = secrets.token_urlsafe(12)
        self.priors: PriorChannel | None = None
        self.push_bytes = 0
        """Bytes of every prior push so far (each goes to every device), and the CPU seconds that encoding and signing them took."""
        self.push_cpu_s = 0.0

    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> ManagedProcess:
        log = self.log_dir / f"{name}.log"
        runs = sum(p.what == name for p in self._processes)
        process = ManagedProcess(splitrank_command(*args), what=name, env={"TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
                                 log=log if not runs else log.with_name(f"{name}.{runs}.log"))
        self._processes.append(process)
        return process

    def start(self, say: Callable[[str], None] = print) -> None:
        """Bring everything up, in dependency order, waiting until each part answers."""
        self._thread.start()
        say(f"starting the cloud server, the broker and {len(self.profiles)} agents (logs in {self.log_dir})")
        self.start_cloud(wait=False)
        device_ids = [f"demo-{i:02d}-{profile}" for i, profile in enumerate(self.profiles)]
        if self.mosquitto:
            # its own folder: mosquitto drops to its user, which cannot enter the 0700 log folder
            broker_dir = Path(tempfile.mkdtemp(prefix="splitrank-broker-"))
            mosquitto = self.broker = MosquittoBroker(broker_dir, dict.fromkeys(["manager", *device_ids], self._password))
            self.broker_port, manager_address = mosquitto.port, mosquitto.address("manager")
        else:
            self.broker = self._spawn("broker", "broker", "--port", str(self.broker_port))
            self.broker.wait_ready(lambda: port_open(self.broker_port), timeout_s=180)
            manager_address = BrokerAddress("127.0.0.1", self.broker_port, protocol="3.1.1")
        manager = self.manager = FleetManager(manager_address, client_id="demo-manager")
        manager.start(30)
        private_key, public_key = generate_keypair(self.log_dir / "keys")
        self.priors = PriorChannel(load_private_key(private_key))
        self._public_key = public_key
        for i, (profile, device_id) in enumerate(zip(self.profiles, device_ids, strict=True)):
            proxy = NetemProxy("127.0.0.1", self.cloud_port, PROFILES[profile], seed=i)
            broker_link = NetemProxy("127.0.0.1", self.broker_port, PROFILES["lan"], seed=100 + i)
            for link in (proxy, broker_link):
                asyncio.run_coroutine_threadsafe(link.start(), self.loop).result(10)
            agent = Agent(device_id, profile, f"127.0.0.1:{free_port()}", proxy, None, broker_link, self.log_dir / device_id)  # type: ignore[arg-type]
            self.agents.append(agent)
            self._spawn_agent(agent)
        self.wait_cloud_serving()
        for agent in self.agents:
            agent.process.wait_ready(lambda address=agent.address: agent_ready(address), timeout_s=180)
        wait_until(lambda: sum(r["online"] for r in manager.status()) >= len(self.agents), 60, "devices reporting to the fleet manager")

    def start_cloud(self, *, wait: bool = True) -> ManagedProcess:
        """Start the cloud server (again, on the same ports); with ``wait``, return once it serves."""
        self.cloud = self._spawn("cloud", "serve-cloud", "--repository", str(self.bundle.parent), "--port", str(self.cloud_port),
                                 "--metrics-port", str(self.metrics_port), "--log-level", "WARNING")
        if wait:
            self.wait_cloud_serving()
        return self.cloud

    def wait_cloud_serving(self, timeout_s: float = 180) -> None:
        """Wait until the cloud server's health service says SERVING."""
        def cloud_serving() -> bool:
            with grpc.insecure_channel(f"127.0.0.1:{self.cloud_port}") as channel:
                answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                return answer.status == health_pb2.HealthCheckResponse.SERVING

        assert self.cloud is not None, "start_cloud() first"
        self.cloud.wait_ready(cloud_serving, timeout_s=timeout_s)

    def cloud_pids(self) -> list[int]:
        """The cloud server's processes: ``serve-cloud`` and the worker processes it started."""
        assert self.cloud is not None, "start() first"
        return [self.cloud.pid, *child_pids(self.cloud.pid)]

    def signal_cloud(self, signum: signal.Signals) -> None:
        """Send every process of the cloud server a signal (SIGKILL: a crash; SIGSTOP/SIGCONT: a frozen server)."""
        assert self.cloud is not None, "start() first"
        for pid in reversed(self.cloud_pids()):  # the workers first: the server must not see them go and restart them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        if signum == signal.SIGKILL:
            self.cloud.popen.wait()

    def kill_broker(self) -> None:
        """SIGKILL the broker (a crash)."""
        assert self.broker is not None, "start() first"
        self.broker.kill()

    def restart_broker(self) -> None:
        """Start the broker again on the same port (mosquitto with what it persisted)."""
        if isinstance(self.broker, MosquittoBroker):
            self.broker.start()
        else:
            self.broker = self._spawn("broker", "broker", "--port", str(self.broker_port))
            self.broker.wait_ready(lambda: port_open(self.broker_port), timeout_s=180)

    def _spawn_agent(self, agent: Agent) -> None:
        args = ["run-agent", "--repository", str(self.bundle), "--port", agent.address.rsplit(":", 1)[1], "--policy", "local",
                "--cloud", f"cloud=127.0.0.1:{agent.proxy.port}@{self.usd_per_call}", "--device-id", agent.device_id,
                "--mqtt", f"127.0.0.1:{agent.broker_link.port}", "--release-public-key", str(self._public_key),
                "--state-dir", str(agent.state_dir), "--log-level", "WARNING"]
        if self.histories is not None:
            args += ["--histories", str(self.histories)]
        env = {"SPLITRANK_AGENT_TELEMETRY_INTERVAL_S": "1", **self.agent_env}
        env.update({"SPLITRANK_AGENT_MQTT_PROTOCOL": "5", "SPLITRANK_AGENT_MQTT_PASSWORD": self._password} if self.mosquitto
                   else {"SPLITRANK_AGENT_MQTT_PROTOCOL": "3.1.1"})
        agent.process = self._spawn(agent.device_id, *args, env=env)

    def restart_agent(self, agent: Agent) -> None:
        """Stop an agent (SIGTERM: it leaves the fleet cleanly) and start it again with the same state; returns once it answers."""
        agent.process.stop()
        self._spawn_agent(agent)
        agent.process.wait_ready(lambda: agent_ready(agent.address), timeout_s=180)

    def set_policy(self, policy: str, cloud_fraction: float = 0.0, cloud_timeout_ms: float = 0.0, budget_multiplier: float | None = None) -> None:
        """Switch every device's router through the fleet (retained config), and wait until all report it; ``budget_multiplier``
        is the controller's price of a cloud call for the learned policy (None: each device uses its gain model's threshold)."""
        manager = self.manager
        assert manager is not None, "start() first"
        revision = manager.set_config([a.device_id for a in self.agents], policy=policy, cloud_fraction_target=cloud_fraction,
                                      cloud_timeout_ms=cloud_timeout_ms, budget_multiplier=budget_multiplier)
        wait_until(lambda: all(r["config_revision"] >= revision for r in manager.status() if r["device_id"].startswith("demo-")),
                   60, f"devices to apply policy {policy}")

    def push_prior(self, values: np.ndarray, day_unix_s: int) -> int:
        """Push a day's prior to the fleet and wait until every online device that had the previous one serves it (one
        that missed pushes refuses deltas against versions it lacks, and catches up at the next full push); returns its version."""
        assert self.manager is not None and self.priors is not None
        previous = self.priors.version
        in_sync = {r["device_id"] for r in self.manager.status() if r["prior_version"] == previous}
        started = time.process_time()
        push, update = self.priors.push(values, day_unix_s)
        self.push_cpu_s += time.process_time() - started
        self.push_bytes += push.ByteSize()
        self.manager.publish_prior(push)
        waiting = {a.device_id for a in self.agents if a.broker_link.is_up and (a.device_id in in_sync or not update.base_version)}
        manager = self.manager
        wait_until(lambda: all(r["prior_version"] >= update.version for r in manager.status() if r["device_id"] in waiting),
                   60, f"devices to apply prior version {update.version}")
        return update.version

    def set_online(self, agent: Agent, online: bool) -> None:
        """Cut an agent's link to the broker (it misses pushes and config, still serves requests) or restore it
        (waiting until it is back: it catches up on what it missed from its session and the retained push)."""
        if agent.broker_link.is_up == online:
            return
        self.loop.call_soon_threadsafe(agent.broker_link.up if online else agent.broker_link.down)
        manager = self.manager
        assert manager is not None
        wait_until(lambda: agent.broker_link.is_up == online, 10, "the broker link")
        if online:
            wait_until(lambda: any(r["device_id"] == agent.device_id and r["online"] for r in manager.status()), 60,
                       f"{agent.device_id} back online")

    def compute_seconds(self) -> dict[str, float]:
        """Cloud compute seconds so far per model (batched model calls), from the server's Prometheus metrics."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("splitrank_compute_seconds_sum"):
                model = line.split('model="')[1].split('"')[0]
                out[model] = float(line.rsplit(" ", 1)[1])
        return out

    def wire_bytes(self) -> tuple[int, int]:
        """Bytes through every agent's link so far: (up to the cloud, down from it)."""
        return sum(a.proxy.bytes_up for a in self.agents), sum(a.proxy.bytes_down for a in self.agents)

    def stop(self) -> None:
        """Stop everything started."""
        if self.manager is not None:
            self.manager.stop()
        for process in self._processes:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGCONT)  # a stopped process cannot take SIGTERM
                process.popen.terminate()
        for process in self._processes:
            process.stop()
        if isinstance(self.broker, MosquittoBroker):
            self.broker.stop()
        for agent in self.agents:
            for link in (agent.proxy, agent.broker_link):
                asyncio.run_coroutine_threadsafe(link.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
