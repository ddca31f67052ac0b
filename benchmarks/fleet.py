"""``splitrank bench fleet``: can the fleet managers keep up with a fleet, and does a manager's death lose or
double-count anything? ``devices`` simulated devices each send one telemetry message a second (real
protobuf Telemetry, QoS 1, with sequence numbers) through a real broker to ``managers`` fleet managers,
each its own ``splitrank fleet serve`` process, sharing the ingest as one group (mosquitto); without
mosquitto, to one in-process manager on the embedded broker (MQTT 3.1.1). ``kill_one`` SIGKILLs the first
manager halfway through. An observer applies the group's checkpoints: the figures are the messages counted
against those the broker accepted, losses and double counts per (device, seq), and the ingest lag (a
manager's receive time - send time).

The devices share ``connections`` MQTT connections (a thousand paho clients would measure this
process's threads, not the managers) and publish as the manager's user, so no ACL is involved.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from devices import topics
from devices.manager import FleetManager
from devices.mqtt import BrokerAddress, MqttConnection
from protos.v1 import fleet_pb2
from splitrank.ports import free_port
from splitrank.processes import ManagedProcess, port_open, splitrank_command

GROUP = "bench"


def _start_mosquitto(folder: Path, port: int) -> ManagedProcess:
    conf = folder / "bench.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\nmax_inflight_messages 1000\n")
    return ManagedProcess(["mosquitto", "-c", str(conf)], what="mosquitto").wait_ready(lambda: port_open(port), timeout_s=10)


def _start_manager(port: int, manager_id: str) -> ManagedProcess:
    """One ``splitrank fleet serve`` process of the bench group; returns once it is connected (it says so)."""
    process = ManagedProcess(splitrank_command("fleet", "serve", "--broker", f"127.0.0.1:{port}", "--group", GROUP, "--manager-id", manager_id,
                                               "--format", "json"), what=f"fleet manager {manager_id}")
    return process.wait_ready(lambda: "serving group" in process.output_tail(1 << 16), timeout_s=60)


def _publisher(connection: MqttConnection, device_ids: list[str], seconds: float, published: list[mqtt.MQTTMessageInfo]) -> None:
    seq = dict.fromkeys(device_ids, 0)
    started = time.monotonic()
    gap = 1.0 / max(len(device_ids), 1)
    while time.monotonic() - started < seconds:
        second = time.monotonic()
        for i, device_id in enumerate(device_ids):  # spread each device's message over the second
            due = second + i * gap
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            seq[device_id] += 1
            message = fleet_pb2.Telemetry(device_id=device_id, seq=seq[device_id], unix_time_s=int(time.time()), sent_at_s=time.time(),
                                          requests_local=10, latency_bucket_counts=[5, 3, 2])
            published.append(connection.client.publish(topics.topic(device_id, "telemetry"), message.SerializeToString(), qos=1))


def _accepted_by_broker(published: list[mqtt.MQTTMessageInfo], timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while not all(info.is_published() for info in published) and time.monotonic() < deadline:
        time.sleep(0.05)
    return sum(info.is_published() for info in published)


def run_fleet_benchmark(*, devices: int = 1000, seconds: float = 10.0, connections: int = 10, managers: int = 1, kill_one: bool = False,
                        progress: Any = print) -> dict[str, Any]:
    """Figures for ``--format json``."""
    mosquitto = shutil.which("mosquitto") is not None
    if (managers > 1 or kill_one) and not mosquitto:
        raise RuntimeError("managers side by side need an MQTT 5 broker: install mosquitto (apt install mosquitto)")
    if kill_one and managers < 2:
        raise ValueError("--kill-one needs --managers 2 or more: a survivor takes the dead manager's share over")
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        port = free_port()
        if mosquitto:
            stack.enter_context(_start_mosquitto(Path(folder), port))
            address = BrokerAddress("127.0.0.1", port, protocol="5")
            observer = FleetManager(address, client_id="bench-observer", group=GROUP, ingest=False)
        else:
            from devices.broker import start_embedded_broker

            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, daemon=True).start()
            embedded = asyncio.run_coroutine_threadsafe(start_embedded_broker("127.0.0.1", port), loop).result(30)
            stack.callback(loop.call_soon_threadsafe, loop.stop)
            stack.callback(lambda: asyncio.run_coroutine_threadsafe(embedded.shutdown(), loop).result(10))  # type: ignore[attr-defined]
            address = BrokerAddress("127.0.0.1", port, protocol="3.1.1")
            observer = FleetManager(address)  # the one manager itself
        observer.start(10)
        stack.callback(observer.stop)
        processes = [_start_manager(port, f"bench-manager-{i}") for i in range(managers)] if mosquitto else []
        for manager_process in processes:
            stack.callback(manager_process.stop, 60)
        ids = [f"sim-{i:05d}" for i in range(devices)]
        publishers = [MqttConnection(address, f"bench-pub-{c}", persistent=False) for c in range(connections)]
        for publisher in publishers:
            publisher.start(10)
            stack.callback(publisher.stop)
        progress(f"{devices} devices x 1 message/s for {seconds:.0f} s through {'mosquitto' if mosquitto else 'the embedded broker'} "
                 f"to {managers} manager(s){', one killed halfway' if kill_one else ''}")
        published: list[list[mqtt.MQTTMessageInfo]] = [[] for _ in publishers]
        threads = [threading.Thread(target=_publisher, args=(p, ids[c::connections], seconds, published[c]))
                   for c, p in enumerate(publishers)]
        killer = threading.Timer(seconds / 2, processes[0].kill) if kill_one else None
        for thread in threads:
            thread.start()
        if killer is not None:
            killer.start()
        for thread in threads:
            thread.join()
        every = [info for share in published for info in share]
        sent = _accepted_by_broker(every, 30)
        deadline = time.monotonic() + 30
        while observer.received < sent and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # a double count would arrive after the last first count
        summary = observer.telemetry_summary()
        missing = observer.uncounted(_sent_per_device(published, ids, connections))
    return {"broker": "mosquitto" if mosquitto else "embedded", "devices": devices, "seconds": seconds, "managers": managers,
            "killed": "bench-manager-0" if kill_one else "", "sent": sent, "handled": summary["received"],
            "handled_ratio": summary["received"] / max(sent, 1), "missing": missing, "duplicates_counted": summary["duplicates_counted"],
            "p50_lag_s": summary["p50_lag_s"], "p99_lag_s": summary["p99_lag_s"]}


def _sent_per_device(published: list[list[mqtt.MQTTMessageInfo]], ids: list[str], connections: int) -> dict[str, int]:
    """How many messages each device published (each publisher sends round after round over its devices)."""
    out: dict[str, int] = {}
    for c, share in enumerate(published):
        devices_here = ids[c::connections]
        rounds, extra = divmod(len(share), len(devices_here))
        out.update({device_id: rounds + (i < extra) for i, device_id in enumerate(devices_here)})
    return out
