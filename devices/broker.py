"""Brokers for the fleet: an embedded pure-Python broker (amqtt, MQTT 3.1.1) that needs nothing
installed, the demo's default; and a mosquitto setup (per-device passwords, the ACL in
``devices/mosquitto/acl``, persistence) for real fleets and the tests."""

from __future__ import annotations

import asyncio
import getpass
import logging
import shutil
import subprocess
from pathlib import Path

ACL_TEMPLATE = Path(__file__).with_name("mosquitto") / "acl"


async def start_embedded_broker(host: str = "127.0.0.1", port: int = 1883) -> object:
    """Start an in-process amqtt broker (anonymous, MQTT 3.1.1); returns it (``await broker.shutdown()`` stops it)."""
    from amqtt.broker import Broker

    logging.getLogger("amqtt").setLevel(logging.WARNING)
    broker = Broker({"listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
                     "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}})
    await broker.start()
    return broker


async def run_embedded_broker(host: str, port: int) -> None:
    """Serve until cancelled."""
    broker = await start_embedded_broker(host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await broker.shutdown()  # type: ignore[attr-defined]


def write_mosquitto_config(directory: Path, *, port: int, users: dict[str, str], host: str = "127.0.0.1") -> Path:
    """mosquitto.conf, a hashed password file and the ACL in ``directory``; returns the conf path.

    ``users`` maps user name (``manager`` or a device id) to password.
    """
    if shutil.which("mosquitto_passwd") is None:
        raise FileNotFoundError("mosquitto_passwd not found: install mosquitto (apt install mosquitto)")
    directory.mkdir(parents=True, exist_ok=True)
    passwords = directory / "passwd"
    passwords.write_text("".join(f"{user}:{password}\n" for user, password in users.items()))
    passwords.chmod(0o600)
    subprocess.run(["mosquitto_passwd", "-U", str(passwords)], check=True, capture_output=True)
    shutil.copyfile(ACL_TEMPLATE, directory / "acl")
    (directory / "data").mkdir(exist_ok=True)
    conf = directory / "mosquitto.conf"
    conf.write_text(f"""# written by splitrank: per-device passwords, ACL, persistence (QoS 1 messages survive a restart)
listener {port} {host}
user {getpass.getuser()}
allow_anonymous false
password_file {passwords}
acl_file {directory / "acl"}
persistence true
persistence_location {directory / "data"}/
autosave_interval 1
autosave_on_changes true
max_queued_messages 100000
log_type error
log_type warning
""")
    return conf
