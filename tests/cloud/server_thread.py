"""A real cloud server in a background event loop, called through ordinary blocking gRPC stubs."""

from __future__ import annotations

import asyncio
import threading

import grpc

from cloud.serving.server import RunningServer, ServeSettings, start_server
from protos.v1 import cloud_pb2_grpc


class ServerThread:
    """Runs a server's event loop in a thread; tests call it through ordinary blocking gRPC stubs."""

    def __init__(self, settings: ServeSettings) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.running: RunningServer = self.call(start_server(settings))
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.running.port}")
        self.stub = cloud_pb2_grpc.CloudRankerStub(self.channel)

    def call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def close(self) -> None:
        self.channel.close()
        self.call(self.running.stop(1.0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
