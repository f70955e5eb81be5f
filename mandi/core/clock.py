"""Injected clocks: every service asks a Clock for "now", never datetime.now().

Production uses WallClock; tests use TestClock; runs against the simulator use the
simulator's clock (mandi.platform.simclock), so a replayed session looks live everywhere.
All clocks return timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, tz-aware UTC."""
        ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class TestClock:
    """A clock that moves only when told to."""

    __test__ = False  # not a pytest class

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("TestClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("TestClock.set needs a timezone-aware datetime")
        self._now = when.astimezone(UTC)


def to_ist(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError("naive datetime: timestamps must be timezone-aware")
    return ts.astimezone(IST)
