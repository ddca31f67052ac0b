"""Settings of ``splitrank run-agent``: one frozen class, read from ``[agent]``, ``SPLITRANK_AGENT_*`` and flags.
Light to import: the CLI derives its flags from it before anything else of the agent loads."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from pydantic_settings import SettingsConfigDict

from core.bundle import DEFAULT_REPOSITORY
from core.settings import Fraction, Port, ProgramSettings
from edge.model import DEFAULT_VARIANT
from edge.private_split import SplitMode
from edge.router import Policy, RouterConfig

Encoding = Literal["int8", "int4", "float32"]
"""How the split route carries the user embedding."""


class AgentSettings(ProgramSettings):
    """Settings of ``splitrank run-agent``: TOML table ``[agent]``, env ``SPLITRANK_AGENT_<NAME>``, flags."""

    model_config = SettingsConfigDict(env_prefix="SPLITRANK_AGENT_")
    toml_table: ClassVar[str] = "agent"

    repository: Path = Field(DEFAULT_REPOSITORY, description="Bundle directory or model repository.")
    variant: str = Field(DEFAULT_VARIANT, description="Edge model format in the bundle (full_int8, dynamic_int8, pruned_int8, float32).")
    host: str = Field("127.0.0.1", description="Address to listen on (127.0.0.1: apps on this device only).")
    port: Port = Field(50061, description="TCP port on --host; 0 picks a free one.")
    unix_socket: str = Field("", description="Also listen on this Unix socket path.")
    cloud: str = Field("", description="Cloud endpoints: name=host:port[@usd_per_call][;...]; none: local only.")
    cloud_tls: str = Field("", description="TLS per cloud endpoint: name:ca=FILE[,cert=FILE,key=FILE][;...] (name * = every endpoint; "
                                           "cert and key make it mTLS); endpoints without an entry are plaintext.")
    policy: Policy = Field("learned", description="Router policy.")
    cloud_route: Literal["split", "cloud"] = Field("split", description="Route threshold and learned send to the cloud on.")
    target_cloud_fraction: Fraction = Field(0.3, description="Share of requests threshold/learned send to the cloud.")
    budget_usd_per_hour: NonNegativeFloat = Field(0.0, description="Cap cloud calls at what this pays for; 0 = no cap.")
    default_k: PositiveInt = Field(10, description="Items returned when a request does not say.")
    default_deadline_ms: PositiveFloat = Field(250.0, description="Deadline of a request that does not set one.")
    histories: str = Field("", description="JSON file of customer histories for requests by user_id.")
    device_id: str = Field("", description="This device's id (sent pseudonymized; its MQTT user name in a fleet).")
    device_secret: str = Field("", repr=False, description="Key of the device id's pseudonym; empty: a fresh random one per start.")
    encoding: Encoding = Field("int8", description="User embedding on the split route.")
    split_candidates: NonNegativeInt = Field(0, description="Candidates a split call carries, best first; 0 = all; fewer = fewer bytes, lower NDCG.")
    split_mode: SplitMode = Field("standard", description="private: split calls carry none of the customer's history items (the cloud "
                                                           "reranks the rest, the device keeps the repeats in place); standard: all candidates.")
    private_history_items: NonNegativeInt = Field(0, description="History items a private split call may still carry, the edge's best first: "
                                                                 "each one is leaked, each one buys NDCG (see `splitrank report privacy`).")
    dp_epsilon: NonNegativeFloat = Field(0.0, description="Gaussian noise on the user embedding for (epsilon, 1e-5)-DP; 0 = off.")
    dp_clip_norm: PositiveFloat = Field(2.0, description="L2 norm the user embedding is clipped to before the DP noise.")
    threads: PositiveInt = Field(1, description="TFLite interpreter threads.")
    max_request_bytes: int = Field(1024 * 1024, ge=1024, le=4 * 1024 * 1024,
                                   description="Larger requests are refused with INVALID_ARGUMENT before they are parsed (gRPC's own limit is 4 MiB).")
    mqtt: str = Field("", description="Fleet broker host:port: report state and telemetry, take config and signed model releases; "
                                      "models then live in state_dir. Empty: not fleet-managed.")
    mqtt_username: str = Field("", description="MQTT user name; empty: the device id.")
    mqtt_password: str = Field("", repr=False, description="MQTT password.")
    mqtt_tls_ca_file: str = Field("", description="TLS to the broker: the CA of its certificate (DIR/ca/ca.pem of `splitrank broker "
                                                  "--mosquitto-config DIR`, TLS port 8883).")
    mqtt_tls_cert_file: str = Field("", description="TLS to the broker: this device's certificate; its common name is the device id.")
    mqtt_tls_key_file: str = Field("", description="TLS to the broker: the certificate's key.")
    mqtt_protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT protocol version.")
    state_dir: str = Field("agent-state", description="Where a fleet-managed agent keeps models and its telemetry outbox.")
    release_public_key: str = Field("", description="release.pub: the key model releases and prior pushes must be signed with.")
    profile: str = Field("", description="Network profile this device reports in its telemetry.")
    telemetry_interval_s: PositiveFloat = Field(10.0, description="Seconds between two telemetry messages to the fleet.")

    def router_config(self) -> RouterConfig:
        """The router part of these settings."""
        return RouterConfig(policy=self.policy, cloud_route=self.cloud_route, target_cloud_fraction=self.target_cloud_fraction,
                            budget_usd_per_hour=self.budget_usd_per_hour)
