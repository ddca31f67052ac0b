"""A cloud that was away for a while is reached again within seconds of coming back (bench chaos found the
device stuck on gRPC's default reconnect backoff, 73 s after a 9 s cloud restart)."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc_health.v1 import health, health_pb2_grpc

from edge.link import CloudLink, Endpoint
from splitrank.ports import free_port

DOWN_S = 12.0


@pytest.mark.slow
def test_the_link_reconnects_within_seconds_after_a_long_outage() -> None:
    async def scenario() -> float:
        port = free_port()
        link = CloudLink(Endpoint("cloud", f"127.0.0.1:{port}"))
        link._connect()
        channel = link.channel
        assert channel is not None
        started = time.monotonic()
        while time.monotonic() - started < DOWN_S:  # nothing listens: every attempt fails and the backoff grows
            channel.get_state(try_to_connect=True)
            await asyncio.sleep(0.2)
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        back = time.monotonic()
        try:
            while channel.get_state(try_to_connect=True) != grpc.ChannelConnectivity.READY:
                await asyncio.sleep(0.05)
            return time.monotonic() - back
        finally:
            await link.close()
            await server.stop(0)

    reconnected_s = asyncio.run(scenario())
    assert reconnected_s < 3.5, f"reconnected {reconnected_s:.1f} s after the cloud came back"
