"""The fleet's MQTT topic tree: ``splitrank/v1/devices/{device_id}/{state|telemetry|config|models|ack}``.

Devices publish ``state`` (retained, with a last will), ``telemetry`` (QoS 1) and ``ack``; the manager
publishes ``config`` and ``models`` (retained: the desired state a reconnecting device catches up on).
One topic is for every device: ``splitrank/v1/fleet/prior``, the freshness push (``devices/freshness.py``).

Managers side by side use ``splitrank/v1/managers/{manager_id}/{presence|ingest|drain}`` and the retained
rollout lease ``splitrank/v1/fleet/rollout-lease``; a group shares telemetry through the MQTT 5 shared
subscription ``$share/{group}/splitrank/v1/devices/+/telemetry``.
"""

from __future__ import annotations

import re

ROOT = "splitrank/v1/devices"
KINDS = ("state", "telemetry", "config", "models", "ack")
MANAGERS_ROOT = "splitrank/v1/managers"
MANAGER_KINDS = ("presence", "ingest", "drain")
ROLLOUT_LEASE = "splitrank/v1/fleet/rollout-lease"
_DEVICE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_device_id(device_id: str) -> str:
    """Device ids are topic levels: letters, digits, ``_.-``, 1 to 64 characters."""
    if not _DEVICE_ID.match(device_id):
        raise ValueError(f"device id {device_id!r} must be 1-64 letters, digits, '_', '.' or '-'")
    return device_id


def _topic(root: str, kinds: tuple[str, ...], owner: str, kind: str) -> str:
    if kind not in kinds:
        raise ValueError(f"unknown topic kind {kind!r}")
    return f"{root}/{check_device_id(owner)}/{kind}"


def _parse(root: str, kinds: tuple[str, ...], topic_name: str) -> tuple[str, str] | None:
    parts = topic_name.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != root or parts[4] not in kinds:
        return None
    return parts[3], parts[4]


def topic(device_id: str, kind: str) -> str:
    """The topic of one kind of message of one device."""
    return _topic(ROOT, KINDS, device_id, kind)


def all_devices(kind: str) -> str:
    """Subscription filter for one kind of message of every device."""
    return f"{ROOT}/+/{kind}"


def parse(topic_name: str) -> tuple[str, str] | None:
    """(device id, kind) of a fleet topic, or None for anything else."""
    return _parse(ROOT, KINDS, topic_name)


def shared(group: str, topic_filter: str) -> str:
    """The MQTT 5 shared subscription of ``group`` to ``topic_filter``: the broker hands each message to one member."""
    return f"$share/{check_device_id(group)}/{topic_filter}"


def manager_topic(manager_id: str, kind: str) -> str:
    """A manager's own topic (``presence``, ``ingest`` or ``drain``); manager ids follow the device id rule."""
    return _topic(MANAGERS_ROOT, MANAGER_KINDS, manager_id, kind)


def all_managers(kind: str) -> str:
    """Subscription filter for one kind of message of every manager."""
    return f"{MANAGERS_ROOT}/+/{kind}"


def parse_manager(topic_name: str) -> tuple[str, str] | None:
    """(manager id, kind) of a manager topic, or None for anything else."""
    return _parse(MANAGERS_ROOT, MANAGER_KINDS, topic_name)
