"""The demo's running system: the cloud server, the embedded broker and N edge agents as separate
processes; a network-emulating TCP proxy between each agent and the cloud; the fleet manager."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devices.manager import FleetManager
from devices.mqtt import BrokerAddress
from splitrank.client import Client
from splitrank.netem import PROFILES, NetemProxy
from splitrank.ports import free_port


def _wait(check: Callable[[], bool], what: str, process: subprocess.Popen[bytes] | None, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(Exception):  # not up yet
            if check():
                return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}; see its log")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not come up within {timeout_s:.0f} s")
        time.sleep(0.2)


def _listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


@dataclass
class Agent:
    """One emulated device."""

    device_id: str
    profile: str
    address: str
    proxy: NetemProxy
    process: subprocess.Popen[bytes]


@dataclass
class DemoStack:
    """Start with ``start()``, stop with ``stop()`` (also on errors: every process is terminated)."""

    bundle: Path
    profiles: list[str]
    usd_per_call: float = 0.0
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="splitrank-demo-")))
    agents: list[Agent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._processes: list[subprocess.Popen[bytes]] = []
        self._stack = ExitStack()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.cloud_port, self.metrics_port, self.broker_port = free_port(), free_port(), free_port()
        self.manager: FleetManager | None = None

    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = self._stack.enter_context((self.log_dir / f"{name}.log").open("wb"))
        process = subprocess.Popen([sys.executable, "-m", "splitrank.cli", *args], stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})
        self._processes.append(process)
        return process

    def start(self, say: Callable[[str], None] = print) -> None:
        """Bring everything up, in dependency order, waiting until each part answers."""
        self._thread.start()
        say(f"starting the cloud server, the broker and {len(self.profiles)} agents (logs in {self.log_dir})")
        cloud = self._spawn("cloud", "serve-cloud", "--repository", str(self.bundle.parent), "--port", str(self.cloud_port),
                            "--metrics-port", str(self.metrics_port), "--log-level", "WARNING")
        broker = self._spawn("broker", "broker", "--port", str(self.broker_port))
        _wait(lambda: _listening(self.broker_port), "the broker", broker)
        self.manager = FleetManager(BrokerAddress("127.0.0.1", self.broker_port, protocol="3.1.1"), client_id="demo-manager")
        self.manager.start(30)
        for i, profile in enumerate(self.profiles):
            proxy = NetemProxy("127.0.0.1", self.cloud_port, PROFILES[profile], seed=i)
            asyncio.run_coroutine_threadsafe(proxy.start(), self.loop).result(10)
            port, device_id = free_port(), f"demo-{i:02d}-{profile}"
            process = self._spawn(device_id, "run-agent", "--repository", str(self.bundle), "--port", str(port), "--policy", "local",
                                  "--cloud", f"cloud=127.0.0.1:{proxy.port}@{self.usd_per_call}", "--device-id", device_id,
                                  "--mqtt", f"127.0.0.1:{self.broker_port}", "--state-dir", str(self.log_dir / device_id), "--log-level", "WARNING",
                                  env={"SPLITRANK_AGENT_MQTT_PROTOCOL": "3.1.1", "SPLITRANK_AGENT_TELEMETRY_INTERVAL_S": "1"})
            self.agents.append(Agent(device_id, profile, f"127.0.0.1:{port}", proxy, process))

        def cloud_serving() -> bool:
            with grpc.insecure_channel(f"127.0.0.1:{self.cloud_port}") as channel:
                answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                return answer.status == health_pb2.HealthCheckResponse.SERVING

        _wait(cloud_serving, "the cloud server", cloud)
        for agent in self.agents:
            with Client(agent.address) as client:
                _wait(lambda client=client: client.wait_ready(1.0), f"agent {agent.device_id}", agent.process)
        assert self.manager is not None
        _wait(lambda: sum(r["online"] for r in self.manager.status()) >= len(self.agents), "devices reporting to the fleet manager", None, 60)

    def set_policy(self, policy: str, cloud_fraction: float = 0.0, cloud_timeout_ms: float = 0.0) -> None:
        """Switch every device's router through the fleet (retained config), and wait until all report it."""
        assert self.manager is not None
        revision = self.manager.set_config([a.device_id for a in self.agents], policy=policy, cloud_fraction_target=cloud_fraction,
                                           cloud_timeout_ms=cloud_timeout_ms)
        _wait(lambda: all(r["config_revision"] >= revision for r in self.manager.status() if r["device_id"].startswith("demo-")),
              f"devices to apply policy {policy}", None, 60)

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
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        for agent in self.agents:
            asyncio.run_coroutine_threadsafe(agent.proxy.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._stack.close()
