"""Customers' purchase histories, kept on the device (they never leave it on the local and split
routes). A JSON file the device's app keeps up to date; the agent reads a history by user id at request time."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from edge.model import HistoryEntry


@dataclass(frozen=True)
class CustomerState:
    """What a request needs about one customer: the history, most recent first, and basket counts."""

    history: list[HistoryEntry]
    previous_baskets: int
    days_since_last_basket: float


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _checked_users(users: object) -> dict[str, dict]:
    """The file's users, checked once at load so that a request never meets a malformed entry; raises ValueError naming it."""
    if not isinstance(users, dict):
        raise TypeError("'users' must be an object of user id -> customer")
    for user_id, user in users.items():
        if not isinstance(user, dict) or not user:
            raise ValueError(f"user {user_id!r}: expected {{\"baskets\", \"last_unix_s\", \"items\"}}")
        baskets, last, items = user.get("baskets"), user.get("last_unix_s"), user.get("items")
        if not (isinstance(baskets, int) and not isinstance(baskets, bool) and baskets >= 0) or not _number(last) or not isinstance(items, dict):
            raise ValueError(f"user {user_id!r}: baskets must be a count >= 0, last_unix_s a number, items an object")
        for code, entry in items.items():
            if not (isinstance(entry, list) and len(entry) == 2 and _number(entry[0]) and _number(entry[1]) and entry[1] >= 1):
                raise ValueError(f"user {user_id!r}, item {code!r}: expected [last bought unix seconds, baskets >= 1], got {entry!r}")
    return users


class HistoryStore:
    """user id -> {item code -> (last bought, baskets)}; file format ``{"users": {id: {"baskets": n,
    "last_unix_s": t, "items": {code: [last_unix_s, count]}}}}``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._users: dict[str, dict] = {}
        if self.path and self.path.is_file():
            try:
                self._users = _checked_users(json.loads(self.path.read_text())["users"])
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{self.path}: not a splitrank history file ({err})") from err

    def __len__(self) -> int:
        return len(self._users)

    def state(self, user_id: str, now_unix_s: float) -> CustomerState:
        """The customer's state at ``now``; an unknown customer has an empty history (the model then ranks by popularity)."""
        user = self._users.get(user_id)
        if not user:
            return CustomerState([], 0, 0.0)
        items = sorted(user["items"].items(), key=lambda kv: -kv[1][0])
        history = [HistoryEntry(code, max(now_unix_s - last, 0.0) / 86400, float(count)) for code, (last, count) in items]
        return CustomerState(history, int(user["baskets"]), max(now_unix_s - user["last_unix_s"], 0.0) / 86400)
