"""A real edge agent in a background event loop, reaching the cloud through real TCP proxies, called
through the SDK."""

from __future__ import annotations

from edge.server import AgentSettings, RunningAgent, start_agent
from splitrank.client import Client
from splitrank.netem import NetemProxy
from tests.loop_thread import LoopThread


class AgentThread(LoopThread):
    """A started agent, its proxies to the cloud, and an SDK client."""

    def __init__(self, settings: AgentSettings, proxies: list[NetemProxy]) -> None:
        super().__init__()
        self.proxies = proxies
        for proxy in proxies:
            self.call(proxy.start())
        cloud = ";".join(f"c{i}=127.0.0.1:{p.port}@0.0001" for i, p in enumerate(proxies))
        self.running: RunningAgent = self.call(start_agent(AgentSettings(**{**settings.__dict__, "cloud": cloud, "port": 0})))
        self.client = Client(f"127.0.0.1:{self.running.port}")

    def close(self) -> None:
        self.client.close()
        self.call(self.running.stop())
        for proxy in self.proxies:
            self.call(proxy.stop())
        super().close()
