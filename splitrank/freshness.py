"""The cloud's freshness job: on a schedule, compute the trailing-window popularity prior from the
interaction log (``cloud/``) and push it to the fleet, signed and retained (``devices/``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pandas as pd
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.data.popularity import trailing_prior
from devices.freshness import PriorChannel
from devices.manager import FleetManager


@dataclass(frozen=True)
class PriorSchedule:
    """When to push: every ``every_s`` seconds (daily by default), the prior of today (UTC), or from
    ``first_day`` on, one day further per push (replaying a log's past); ``count`` pushes (0 = forever)."""

    every_s: float = 86400.0
    first_day: date | None = None
    count: int = 0

    def days(self) -> Iterator[date]:
        """The day of each push, as its time comes."""
        pushed = 0
        while not self.count or pushed < self.count:
            if pushed:
                time.sleep(self.every_s)
            yield self.first_day + timedelta(days=pushed) if self.first_day else datetime.now(timezone.utc).date()
            pushed += 1


def push_priors(manager: FleetManager, key: Ed25519PrivateKey, codes: list[str], load_log: Callable[[], pd.DataFrame],
                schedule: PriorSchedule, *, full_every: int = 7, say: Callable[[str], None] = lambda line: None) -> int:
    """Run the schedule: compute each day's prior from a freshly loaded log and publish it; returns the last version.
    Versions go on from the one retained at the broker, so a restarted job never sends an older number."""
    manager.wait_for_prior(1, 2.0)  # the retained push, if there is one
    channel = PriorChannel(key, full_every=full_every, last_version=manager.newest_prior.version if manager.newest_prior else 0)
    for day in schedule.days():
        prior = trailing_prior(load_log(), codes, day)
        day_unix_s = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())
        push, update = channel.push(prior, day_unix_s)
        manager.publish_prior(push)
        say(f"prior version {update.version} for {day}: {push.ByteSize()} bytes ({'delta' if update.base_version else 'full'})")
    return channel.version
