"""A real cloud server in a background event loop, called through ordinary blocking gRPC stubs."""

from __future__ import annotations

import grpc

from cloud.serving.server import RunningServer, ServeSettings, start_server
from protos.v1 import cloud_pb2_grpc
from tests.loop_thread import LoopThread


class ServerThread(LoopThread):
    """A started cloud server; ``stub`` calls it over a real socket."""

    def __init__(self, settings: ServeSettings) -> None:
        super().__init__()
        self.running: RunningServer = self.call(start_server(settings))
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.running.port}")
        self.stub = cloud_pb2_grpc.CloudRankerStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        self.call(self.running.stop(1.0))
        super().close()
