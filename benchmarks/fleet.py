"""``splitrank bench fleet``: can the manager keep up with a fleet? ``devices`` simulated devices each
send one telemetry message a second (real protobuf Telemetry, QoS 1, with sequence numbers) through a
real broker (mosquitto when installed, else the embedded one) to one FleetManager; the figures are
the messages handled against those sent and the ingest lag (receive time - send time).

The devices share ``connections`` MQTT connections (a thousand paho clients would measure this
process's threads, not the manager) and publish as the manager's user, so no ACL is involved.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from devices import topics
from devices.manager import FleetManager
from devices.mqtt import BrokerAddress, MqttConnection
from protos.v1 import fleet_pb2
from splitrank.ports import free_port
from splitrank.processes import ManagedProcess, port_open


def _start_mosquitto(folder: Path, port: int) -> ManagedProcess:
    conf = folder / "bench.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\nmax_inflight_messages 1000\n")
    return ManagedProcess(["mosquitto", "-c", str(conf)], what="mosquitto").wait_ready(lambda: port_open(port), timeout_s=10)


def _publisher(connection: MqttConnection, device_ids: list[str], seconds: float, sent: list[int], stop: threading.Event) -> None:
    seq = dict.fromkeys(device_ids, 0)
    started = time.monotonic()
    gap = 1.0 / max(len(device_ids), 1)
    while time.monotonic() - started < seconds and not stop.is_set():
        second = time.monotonic()
        for i, device_id in enumerate(device_ids):  # spread each device's message over the second
            due = second + i * gap
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            seq[device_id] += 1
            message = fleet_pb2.Telemetry(device_id=device_id, seq=seq[device_id], unix_time_s=int(time.time()), sent_at_s=time.time(),
                                          requests_local=10, latency_bucket_counts=[5, 3, 2])
            connection.client.publish(topics.topic(device_id, "telemetry"), message.SerializeToString(), qos=1)
            sent[0] += 1


def run_fleet_benchmark(*, devices: int = 1000, seconds: float = 10.0, connections: int = 10, progress: Any = print) -> dict[str, Any]:
    """Figures for ``--format json``."""
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        embedded = None
        loop = None
        if shutil.which("mosquitto"):
            broker_name, process = "mosquitto", _start_mosquitto(Path(folder), port)
            address = BrokerAddress("127.0.0.1", port, protocol="5")
        else:
            from devices.broker import start_embedded_broker

            broker_name, process = "embedded", None
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, daemon=True).start()
            embedded = asyncio.run_coroutine_threadsafe(start_embedded_broker("127.0.0.1", port), loop).result(30)
            address = BrokerAddress("127.0.0.1", port, protocol="3.1.1")
        try:
            manager = FleetManager(address)
            manager.start(10)
            ids = [f"sim-{i:05d}" for i in range(devices)]
            shares = [ids[c::connections] for c in range(connections)]
            publishers = [MqttConnection(address, f"bench-pub-{c}", persistent=False) for c in range(connections)]
            for publisher in publishers:
                publisher.start(10)
            progress(f"{devices} devices x 1 message/s for {seconds:.0f} s through {broker_name}, {connections} connections")
            sent, stop = [0], threading.Event()
            threads = [threading.Thread(target=_publisher, args=(p, share, seconds, sent, stop)) for p, share in zip(publishers, shares, strict=True)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            deadline = time.monotonic() + 10
            while manager.received < sent[0] and time.monotonic() < deadline:
                time.sleep(0.05)
            summary = manager.telemetry_summary()
            for publisher in publishers:
                publisher.stop()
            manager.stop()
        finally:
            if process:
                process.stop(5)
            if embedded is not None and loop is not None:
                asyncio.run_coroutine_threadsafe(embedded.shutdown(), loop).result(10)  # type: ignore[attr-defined]
                loop.call_soon_threadsafe(loop.stop)
    return {"broker": broker_name, "devices": devices, "seconds": seconds, "sent": sent[0], "handled": summary["received"],
            "handled_ratio": summary["received"] / max(sent[0], 1), "missing": summary["missing"], "p50_lag_s": summary["p50_lag_s"],
            "p99_lag_s": summary["p99_lag_s"]}
