"""The device's link to one cloud endpoint: a long-lived grpc.aio channel with keepalive, a circuit
breaker, the RTT (EWMA) and the server's latest load hint, and the bytes sent and received."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from edge.resilience import CircuitBreaker
from protos.v1 import cloud_pb2, cloud_pb2_grpc

KEEPALIVE = [("grpc.keepalive_time_ms", 20_000), ("grpc.keepalive_timeout_ms", 5_000), ("grpc.keepalive_permit_without_calls", 1),
             ("grpc.http2.max_pings_without_data", 0), ("grpc.enable_retries", 0),
             ("grpc.initial_reconnect_backoff_ms", 500), ("grpc.min_reconnect_backoff_ms", 500), ("grpc.max_reconnect_backoff_ms", 2_000)]
"""Pings keep NAT and load-balancer state alive and find a dead peer in seconds; splitrank retries itself, within its budget.
Reconnects back off to 2 s at most (gRPC's default grows to 120 s): after a cloud restart the device is back on the split
route within seconds (bench chaos measured 73 s after a 9 s restart with the default); the jitter spreads a fleet's reconnects."""


PROBE_EVERY_S = 1.0
"""How often a link whose latency estimate is over the budget still gets a call (to measure it again)."""


class CloudCallFailed(Exception):
    """A cloud call did not produce a ranking; ``reason`` is what the degraded response reports."""

    def __init__(self, reason: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class EndpointTLS:
    """TLS toward one cloud endpoint: the CA that signed the server's certificate (empty: the system's
    roots) and, for mTLS, this device's certificate and key (PEM files)."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    def credentials(self) -> grpc.ChannelCredentials:
        """Channel credentials from the files; raises ValueError naming a file that is missing or unreadable."""
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cloud TLS: a client certificate needs its key and a key its certificate (cert= and key=)")

        def read(path: str) -> bytes | None:
            try:
                return Path(path).read_bytes() if path else None
            except OSError as err:
                raise ValueError(f"cloud TLS: cannot read {path}: {err.strerror}") from None

        return grpc.ssl_channel_credentials(read(self.ca_file), read(self.key_file), read(self.cert_file))


def parse_endpoint_tls(text: str) -> dict[str, EndpointTLS]:
    """``name:ca=FILE[,cert=FILE,key=FILE][;...]``; the name ``*`` applies to every endpoint without its own entry.
    E.g. ``public:ca=/etc/splitrank/cloud-ca.pem,cert=/etc/splitrank/device.pem,key=/etc/splitrank/device.key``."""
    found: dict[str, EndpointTLS] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, rest = part.partition(":")
        files: dict[str, str] = {}
        for item in filter(None, (i.strip() for i in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq or key.strip() not in ("ca", "cert", "key"):
                raise ValueError(f"cloud TLS {part!r}: expected ca=FILE, cert=FILE or key=FILE, got {item!r}")
            files[f"{key.strip()}_file"] = value.strip()
        if not sep or not name.strip():
            raise ValueError(f"cloud TLS {part!r}: expected endpoint-name:ca=FILE[,cert=FILE,key=FILE]")
        found[name.strip()] = EndpointTLS(**files)
    return found


@dataclass(frozen=True)
class Endpoint:
    """A cloud reranker the device may call, what one call there costs, and TLS toward it (None: plaintext)."""

    name: str
    address: str
    usd_per_call: float = 0.0
    tls: EndpointTLS | None = None


def parse_endpoints(text: str, tls: dict[str, EndpointTLS] | None = None) -> list[Endpoint]:
    """``name=host:port[@usd_per_call][;...]``, e.g. ``private=10.0.0.5:50051@0.00001;public=cloud.example:443@0.00004``;
    ``tls`` (from ``parse_endpoint_tls``) gives endpoints by name, or ``*``, their TLS settings."""
    tls = tls or {}
    endpoints: list[Endpoint] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, rest = part.partition("=")
        if not sep:
            name, rest = f"cloud{len(endpoints)}", part
        address, _, price = rest.partition("@")
        if ":" not in address:
            raise ValueError(f"cloud endpoint {part!r}: address must be host:port")
        try:
            usd = float(price) if price else 0.0
        except ValueError:
            raise ValueError(f"cloud endpoint {part!r}: price per call must be a number, got {price!r}") from None
        endpoints.append(Endpoint(name.strip(), address.strip(), usd, tls.get(name.strip(), tls.get("*"))))
    return endpoints


def _unavailable_cause(details: str, tls: bool) -> str:
    """A short, bounded reason for an UNAVAILABLE call (degraded reasons are counted in telemetry, so no free text)."""
    if "CERTIFICATE_VERIFY_FAILED" in details:
        return " (TLS: the server's certificate is not signed by the configured CA)"
    if "handshake" in details.lower():
        return " (TLS handshake failed)"
    if tls and "Socket closed" in details:
        return " (TLS: the server closed the connection; does it accept this device's certificate?)"
    return ""


@dataclass
class LinkStats:
    """Counters the agent reports as telemetry."""

    bytes_up: int = 0
    bytes_down: int = 0


@dataclass
class CloudLink:
    """One endpoint as the router sees it. Create inside the event loop that will use it."""

    endpoint: Endpoint
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    rtt_s: float = 0.02
    """EWMA of the network part of a call (call time minus the server's queue and compute time)."""
    queue_wait_s: float = 0.0
    """The server's estimated wait for a new request, from its latest load hint."""
    loss: float = 0.0
    """EWMA of the share of calls that got no answer (unreachable, timed out, abandoned at the deadline)."""
    backoff_until: float = 0.0
    stats: LinkStats = field(default_factory=LinkStats)

    def __post_init__(self) -> None:
        self._last_probe = time.monotonic()
        self.channel: grpc.aio.Channel | None = None
        self._stub: cloud_pb2_grpc.CloudRankerStub | None = None
        self._credentials = self.endpoint.tls.credentials() if self.endpoint.tls else None  # unreadable files fail at start, not per call

    def _connect(self) -> cloud_pb2_grpc.CloudRankerStub:
        """The channel is opened on first use, inside the event loop that uses it (links may be made in any thread)."""
        if self._stub is None:
            if self._credentials is not None:
                self.channel = grpc.aio.secure_channel(self.endpoint.address, self._credentials, options=KEEPALIVE)
            else:
                self.channel = grpc.aio.insecure_channel(self.endpoint.address, options=KEEPALIVE)
            self._stub = cloud_pb2_grpc.CloudRankerStub(self.channel)
        return self._stub

    def expected_latency_s(self) -> float:
        """What a call started now is expected to take."""
        return self.rtt_s + self.queue_wait_s

    def fits(self, budget_s: float) -> bool:
        """Whether a call is expected to answer within ``budget_s``. When it is not, one call every ``PROBE_EVERY_S``
        is let through anyway: the estimate learns only from calls, and a link judged too slow would never be tried again."""
        if self.expected_latency_s() <= budget_s:
            return True
        now = time.monotonic()
        if now - self._last_probe >= PROBE_EVERY_S:
            self._last_probe = now
            return True
        return False

    def available(self) -> bool:
        """Not backing off after a shed call, and the breaker lets a call through (this may take the half-open probe)."""
        return time.monotonic() >= self.backoff_until and self.breaker.allow()

    async def call(self, request: cloud_pb2.RerankRequest | cloud_pb2.FullRankRequest, timeout_s: float) -> cloud_pb2.CloudRankResponse:
        """Rerank (split) or RankFull (cloud) within ``timeout_s``; raises CloudCallFailed."""
        stub = self._connect()
        method = stub.Rerank if isinstance(request, cloud_pb2.RerankRequest) else stub.RankFull
        self.stats.bytes_up += request.ByteSize()
        started = time.monotonic()
        try:
            response: cloud_pb2.CloudRankResponse = await method(request, timeout=timeout_s)
        except asyncio.CancelledError:  # the agent stopped waiting at the app's deadline: a timeout, as the router must learn
            self._timed_out(started)
            self.breaker.record(False)
            raise
        except grpc.aio.AioRpcError as err:
            code = err.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                self._timed_out(started)
            elif code == grpc.StatusCode.UNAVAILABLE:
                self.loss = 0.9 * self.loss + 0.1
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                hint_ms = float(dict(err.trailing_metadata() or ()).get("retry-after-ms", "50"))
                self.backoff_until = time.monotonic() + hint_ms / 1000
                self.breaker.record(True)  # shedding is the server protecting itself, not a broken link
            elif code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
                self.breaker.record(True)  # the link works; this request or version does not
            else:
                self.breaker.record(False)
            cause = _unavailable_cause(err.details() or "", self._credentials is not None) if code == grpc.StatusCode.UNAVAILABLE else ""
            raise CloudCallFailed(f"cloud {self.endpoint.name}: {code.name}{cause}", code) from None
        elapsed = time.monotonic() - started
        self.loss *= 0.9
        self.breaker.record(True)
        self.stats.bytes_down += response.ByteSize()
        network = max(elapsed - (response.queue_ms + response.compute_ms) / 1000, 0.0)
        self.rtt_s = 0.8 * self.rtt_s + 0.2 * network
        self.queue_wait_s = response.load.estimated_wait_ms / 1000
        return response

    def _timed_out(self, started: float) -> None:
        """The wait is a lower bound of the RTT, which the router must learn; no answer counts as loss."""
        self.rtt_s = 0.8 * self.rtt_s + 0.2 * (time.monotonic() - started)
        self.loss = 0.9 * self.loss + 0.1

    async def close(self) -> None:
        """Close the channel."""
        if self.channel is not None:
            await self.channel.close()
