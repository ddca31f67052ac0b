"""Brokers for the fleet: an embedded pure-Python broker (amqtt, MQTT 3.1.1) that needs nothing
installed, the demo's default; and a mosquitto setup (per-device passwords and TLS client
certificates, the ACL in ``devices/mosquitto/acl``, persistence, never running as root) for real
fleets and the tests."""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from devices.pki import FleetCA

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


def _drop_to(user: str) -> tuple[int, int] | None:
    """(uid, gid) mosquitto switches to when started as root, or None when it runs as whoever starts it (not root)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ValueError(f"user {user!r} does not exist: the broker must not run as root; create it or pick another (--user)") from None
    if entry.pw_uid == 0:
        raise ValueError("the broker must not run as root: pick an unprivileged user (--user)")
    return entry.pw_uid, entry.pw_gid


def _check_reachable(directory: Path, uid: int, gid: int, user: str) -> None:
    """mosquitto opens its files after dropping to ``user``: every parent directory must let that user through."""
    for parent in directory.resolve().parents:
        mode = parent.stat()
        allowed = (mode.st_mode & 0o001) or (mode.st_uid == uid and mode.st_mode & 0o100) or (mode.st_gid == gid and mode.st_mode & 0o010)
        if not allowed:
            raise ValueError(f"mosquitto runs as {user!r}, which cannot enter {parent} (mode {oct(mode.st_mode & 0o777)}): "
                             f"put the broker directory where {user!r} can reach it")


def write_mosquitto_config(directory: Path, *, port: int, users: dict[str, str], host: str = "127.0.0.1", tls_port: int | None = None,
                           run_as: str = "mosquitto", autosave_changes: int = 20) -> Path:
    """mosquitto.conf, a hashed password file and the ACL in ``directory``; returns the conf path.

    ``users`` maps user name (``manager`` or a device id) to password; they log in on ``port``. With ``tls_port``, a
    second listener speaks TLS only and requires a client certificate of the fleet CA (``directory/ca``, made when
    missing), whose common name becomes the user name the ACL checks (``use_identity_as_username``): a certificate per
    user is issued into ``directory/clients``. The broker drops to ``run_as`` when started as root (never root
    itself), and saves its database after every ``autosave_changes`` changes (messages stored, subscriptions,
    retained messages) and on a clean stop: a SIGKILL loses at most that many, where saving after every change
    rewrote the whole database once per message.
    """
    if shutil.which("mosquitto_passwd") is None:
        raise FileNotFoundError("mosquitto_passwd not found: install mosquitto (apt install mosquitto)")
    if autosave_changes < 1:
        raise ValueError(f"autosave_changes must be >= 1, got {autosave_changes}")
    owner = _drop_to(run_as)
    directory.mkdir(parents=True, exist_ok=True)
    if owner is not None:
        directory.chmod(0o711)  # mosquitto passes through; only its own files and data are its
        _check_reachable(directory, *owner, run_as)
    passwords = directory / "passwd"
    passwords.write_text("".join(f"{user}:{password}\n" for user, password in users.items()))
    passwords.chmod(0o600)
    subprocess.run(["mosquitto_passwd", "-U", str(passwords)], check=True, capture_output=True)
    shutil.copyfile(ACL_TEMPLATE, directory / "acl")
    (directory / "data").mkdir(exist_ok=True)
    broker_files = [passwords, directory / "acl", directory / "data"]
    tls = ""
    if tls_port is not None:
        ca = FleetCA(directory / "ca")
        server_dir = directory / "tls"
        shutil.copyfile(ca.cert_file, directory / "tls-ca.pem")
        cert, key = ca.issue("server", server_dir, hosts=tuple(dict.fromkeys((host, "localhost", "127.0.0.1"))))
        for user in users:
            ca.issue(user, directory / "clients")
        broker_files += [server_dir, cert, key, directory / "tls-ca.pem"]
        tls = f"""
# TLS: a client certificate of the fleet CA is required; its common name is the user name the ACL checks
listener {tls_port} {host}
cafile {directory / "tls-ca.pem"}
certfile {cert}
keyfile {key}
require_certificate true
use_identity_as_username true
"""
    if owner is not None:
        for path in broker_files:
            os.chown(path, *owner)
    conf = directory / "mosquitto.conf"
    conf.write_text(f"""# written by splitrank: per-device passwords{" and certificates" if tls else ""}, ACL, persistence
# started as root, mosquitto drops to this user before it opens any file but this one
user {run_as}
listener {port} {host}
{tls}
allow_anonymous false
password_file {passwords}
acl_file {directory / "acl"}
persistence true
persistence_location {directory / "data"}/
# save after this many changes (and on a clean stop): at most this many are lost to a SIGKILL; saving after every
# change rewrote the database once per message, and a timer alone would lose sessions made since the last save
autosave_on_changes true
autosave_interval {autosave_changes}
max_queued_messages 100000
log_type error
log_type warning
""")
    return conf
