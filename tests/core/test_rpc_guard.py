"""Malformed bytes on any method of a guarded grpc.aio server: INVALID_ARGUMENT, counted, one log line, no traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from core.rpc_guard import MalformedRequestGuard
from tests.loop_thread import LoopThread

CHECK, WATCH = "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"


class GuardedHealthServer(LoopThread):
    """A real grpc.aio server with the health service (unary and server-streaming methods) behind the guard."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[str] = []
        self.port = self.call(self._start())

    async def _start(self) -> int:
        self.guard = MalformedRequestGuard(self.refused.append, max_request_bytes=1000)
        self.server = grpc.aio.server(interceptors=[self.guard])
        servicer = health.aio.HealthServicer()
        await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return port

    def close(self) -> None:
        self.call(self.server.stop(0))
        super().close()


@pytest.fixture
def server() -> Iterator[GuardedHealthServer]:
    running = GuardedHealthServer()
    yield running
    running.close()


def test_malformed_bytes_are_invalid_argument_counted_and_logged_once(server: GuardedHealthServer, caplog: pytest.LogCaptureFixture) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel, caplog.at_level(logging.WARNING):
        for _ in range(3):
            with pytest.raises(grpc.RpcError) as caught:
                channel.unary_unary(CHECK)(b"\xff\xff\xff", timeout=5)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "malformed request" in caught.value.details() and "HealthCheckRequest" in caught.value.details()
        with pytest.raises(grpc.RpcError) as caught:
            next(iter(channel.unary_stream(WATCH)(b"\x0a\x05ab", timeout=5)))  # a string field cut short
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        check = channel.unary_unary(CHECK, request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                                    response_deserializer=health_pb2.HealthCheckResponse.FromString)
        assert check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as caught:
            channel.unary_unary("/no.Such/Method")(b"", timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert server.refused == [CHECK] * 3 + [WATCH]
    assert "/no.Such/Method" not in server.guard._handlers  # unknown names are not remembered
    lines = [r for r in caplog.records if r.name == "splitrank.rpc"]
    assert len(lines) == 2 and all(r.exc_info is None for r in lines)  # one line per method within log_every_s, no traceback
    assert not [r for r in caplog.records if r.exc_info]


def test_requests_over_the_size_limit_are_refused_before_parsing(server: GuardedHealthServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel, pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary(CHECK)(health_pb2.HealthCheckRequest(service="x" * 2000).SerializeToString(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "the limit is 1000" in caught.value.details()
    assert server.refused == [CHECK]
