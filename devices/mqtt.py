"""MQTT connections for devices and the manager: paho-mqtt 2.x, MQTT 5 (or 3.1.1 for brokers that
speak only that, like the embedded one), persistent sessions, credentials, TLS, TCP_NODELAY (small
QoS 1 messages would otherwise wait on Nagle's algorithm), automatic reconnects."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

SESSION_EXPIRY_S = 7 * 24 * 3600
"""How long the broker keeps a disconnected client's subscriptions and queued QoS 1 messages."""


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is and how to log in."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    protocol: str = "5"  # "5" or "3.1.1"
    tls_ca_file: str | None = None
    """With it, TLS: the CA that signed the broker's certificate."""
    tls_cert_file: str | None = None
    """This client's certificate (PEM); brokers set up by ``splitrank broker --mosquitto-config`` take its common name as the user name."""
    tls_key_file: str | None = None

    def __repr__(self) -> str:  # the password never reaches a log line
        return (f"BrokerAddress(host={self.host!r}, port={self.port}, username={self.username!r}, password={'***' if self.password else None}, "
                f"protocol={self.protocol!r}, tls_ca_file={self.tls_ca_file!r}, tls_cert_file={self.tls_cert_file!r})")

    @classmethod
    def parse(cls, text: str, **kwargs: object) -> BrokerAddress:
        """``host:port`` (port 1883 when left out)."""
        host, _, port = text.rpartition(":") if ":" in text else (text, "", "1883")
        return cls(host or "127.0.0.1", int(port), **kwargs)  # type: ignore[arg-type]


def _nodelay(client: mqtt.Client, userdata: object, sock: socket.socket) -> None:
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class MqttConnection:
    """One client with its network thread; ``connected`` is set while the broker has us."""

    def __init__(self, broker: BrokerAddress, client_id: str, *, persistent: bool = True,
                 will: tuple[str, bytes] | None = None, manual_ack: bool = False) -> None:
        self.broker = broker
        self.v5 = broker.protocol == "5"
        self.persistent = persistent
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
                                  clean_session=None if self.v5 else not persistent, manual_ack=manual_ack)
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password)
        if broker.tls_cert_file and not broker.tls_ca_file:
            raise ValueError("an MQTT client certificate needs the CA of the broker (tls_ca_file)")
        if bool(broker.tls_cert_file) != bool(broker.tls_key_file):
            raise ValueError("an MQTT client certificate needs its key and a key its certificate")
        if broker.tls_ca_file:
            for path in (broker.tls_ca_file, broker.tls_cert_file, broker.tls_key_file):
                if path and not os.access(path, os.R_OK):
                    raise ValueError(f"MQTT TLS: cannot read {path}")
            self.client.tls_set(ca_certs=broker.tls_ca_file, certfile=broker.tls_cert_file or None, keyfile=broker.tls_key_file or None,
                                tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if will:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.client.on_socket_open = _nodelay
        self.client.reconnect_delay_set(min_delay=0.2, max_delay=5)
        self.client.max_inflight_messages_set(100)
        self.connected = threading.Event()
        self.on_connected: Callable[[], None] = lambda: None
        self.refused: str = ""
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object, properties: object) -> None:
        if getattr(reason, "is_failure", False):
            self.refused = str(reason)
            return
        self.refused = ""
        self.connected.set()
        self.on_connected()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: object, properties: object) -> None:
        self.connected.clear()

    def start(self, wait_s: float = 0.0) -> bool:
        """Connect in the background (retrying forever); with ``wait_s``, wait that long for the first CONNACK."""
        properties = None
        kwargs: dict[str, object] = {}
        if self.v5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = SESSION_EXPIRY_S if self.persistent else 0
            kwargs["clean_start"] = not self.persistent
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30, properties=properties, **kwargs)
        self.client.loop_start()
        return self.connected.wait(wait_s) if wait_s else False

    def stop(self, *, end_session: bool = False) -> None:
        """Disconnect cleanly (no last will) and stop the network thread; ``end_session`` (MQTT 5) also has the
        broker drop the session, its subscriptions included, instead of keeping it for a reconnect."""
        properties = None
        if end_session and self.v5:
            properties = Properties(PacketTypes.DISCONNECT)
            properties.SessionExpiryInterval = 0
        self.client.disconnect(properties=properties)
        self.client.loop_stop()
