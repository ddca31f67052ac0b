"""Customers' purchase histories, kept on the device (they never leave it on the local and split
routes). A JSON file the device's app keeps up to date; the agent reads a history by user id at request time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edge.model import HistoryEntry


@dataclass(frozen=True)
class CustomerState:
    """What a request needs about one customer: the history, most recent first, and basket counts."""

    history: list[HistoryEntry]
    previous_baskets: int
    days_since_last_basket: float


class HistoryStore:
    """user id -> {item code -> (last bought, baskets)}; file format ``{"users": {id: {"baskets": n,
    "last_unix_s": t, "items": {code: [last_unix_s, count]}}}}``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._users: dict[str, dict] = {}
        if self.path and self.path.is_file():
            try:
                self._users = json.loads(self.path.read_text())["users"]
            except (json.JSONDecodeError, KeyError, TypeError) as err:
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
