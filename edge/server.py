"""``splitrank run-agent``: the EdgeAgent gRPC service on localhost, over TCP and a Unix socket.

Loads a bundle (sha256-verified), the TFLite edge step through ai-edge-litert / tflite-runtime (no
TensorFlow on the device), the router and one link per cloud endpoint; answers until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from core.codec import FLOAT32, INT4, INT8
from core.rpc_guard import MalformedRequestGuard
from edge.agent import EdgeAgentService
from edge.history_store import HistoryStore
from edge.link import CloudLink, parse_endpoint_tls, parse_endpoints
from edge.model import EdgeModel
from edge.privacy import PrivacyConfig, pseudonym
from edge.ranking import AgentOptions
from edge.router import Router
from edge.settings import AgentSettings, Encoding
from protos.v1 import agent_pb2, agent_pb2_grpc

log = logging.getLogger("splitrank.agent")
SERVICE_NAME = agent_pb2.DESCRIPTOR.services_by_name["EdgeAgent"].full_name
ENCODINGS: dict[Encoding, int] = {"int8": INT8, "int4": INT4, "float32": FLOAT32}


@dataclass
class RunningAgent:
    """A started agent (tests, the demo and the fleet client drive these directly)."""

    server: grpc.aio.Server
    port: int
    service: EdgeAgentService
    links: list[CloudLink]
    watcher: asyncio.Task[None]
    """Samples the event loop's lateness for the deadline margin."""

    async def stop(self, grace_s: float = 1.0) -> None:
        """Finish in-flight requests and close the cloud channels."""
        self.watcher.cancel()
        await self.server.stop(grace_s)
        for link in self.service.links:
            await link.close()


async def start_agent(settings: AgentSettings, *, bundle: Path | None = None) -> RunningAgent:
    """Load everything, then listen; raises with the reason when the bundle or a setting is unusable.
    ``bundle`` overrides ``settings.repository`` (a fleet-managed device serves its current model slot)."""
    model = EdgeModel(bundle or settings.repository, variant=settings.variant, threads=settings.threads)
    router = Router(settings.router_config(), model.gain_model)
    links = [CloudLink(endpoint) for endpoint in parse_endpoints(settings.cloud, parse_endpoint_tls(settings.cloud_tls))]
    secret = settings.device_secret.encode() or secrets.token_bytes(16)
    device = pseudonym(settings.device_id, secret) if settings.device_id else ""
    options = AgentOptions(default_k=settings.default_k, default_deadline_ms=settings.default_deadline_ms, device_id=device,
                           split_candidates=settings.split_candidates, split_mode=settings.split_mode,
                           private_history_items=settings.private_history_items,
                           encoding=ENCODINGS[settings.encoding], privacy=PrivacyConfig(epsilon=settings.dp_epsilon, clip_norm=settings.dp_clip_norm))
    service = EdgeAgentService(model, router, links, HistoryStore(Path(settings.histories) if settings.histories else None), options)

    def count_malformed(method: str) -> None:
        service.stats.invalid += 1

    server = grpc.aio.server(interceptors=[MalformedRequestGuard(count_malformed, max_request_bytes=settings.max_request_bytes)])
    agent_pb2_grpc.add_EdgeAgentServicer_to_server(service, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    if settings.unix_socket:
        server.add_insecure_port(f"unix:{settings.unix_socket}")
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("agent serving model version %s (%s, %s) on %s:%d%s; policy %s; cloud %s", model.version, model.variant, model.step.runtime,
             settings.host, port, f" and unix:{settings.unix_socket}" if settings.unix_socket else "", settings.policy,
             [link.endpoint.address for link in links] or "none")
    return RunningAgent(server, port, service, links, asyncio.create_task(service.margin.watch()))
