"""Kite candle intervals: names, durations and the per-request maximum span Kite allows, and the
one table of other names users call them by (the seeds' `5min`, `15min` …).

Everything that takes an interval from a user goes through `parse_interval`, which answers the
canonical Kite name; only canonical names are stored, sent to Kite or echoed back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mandi.core.errors import InvalidInput


@dataclass(frozen=True)
class Interval:
    name: str
    minutes: int  # 0 for day
    max_days: int  # Kite's maximum span of one historical request

    @property
    def is_intraday(self) -> bool:
        return self.minutes > 0

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.minutes) if self.minutes else timedelta(days=1)

    def requests_for(self, start: datetime, end: datetime) -> int:
        """Kite historical requests a full fetch of [start, end] takes, split as history's
        planner splits it (one request per `max_days`); 0 for an empty range."""
        if end < start:
            return 0
        return (end - start) // timedelta(days=self.max_days) + 1


INTERVALS: dict[str, Interval] = {
    i.name: i
    for i in (
        Interval("minute", 1, 60),
        Interval("3minute", 3, 100),
        Interval("5minute", 5, 100),
        Interval("10minute", 10, 100),
        Interval("15minute", 15, 200),
        Interval("30minute", 30, 200),
        Interval("60minute", 60, 400),
        Interval("day", 0, 2000),
    )
}


# Other names for Kite's intervals. Seed 000 offers "minute/5min/15min/day"; the `<n>min`
# family is completed for every Kite interval so no one has to guess which of them exist.
ALIASES: dict[str, str] = {
    "1min": "minute",
    "3min": "3minute",
    "5min": "5minute",
    "10min": "10minute",
    "15min": "15minute",
    "30min": "30minute",
    "60min": "60minute",
}

ACCEPTED = (f"{', '.join(INTERVALS)} (or {', '.join(ALIASES)})")


def parse_interval(name: str, *, field: str = "interval") -> Interval:
    """The Interval a user means by `name`: a Kite name or an alias, any case, blanks trimmed."""
    key = (name or "").strip().lower()
    key = ALIASES.get(key, key)
    try:
        return INTERVALS[key]
    except KeyError:
        raise InvalidInput(f"unknown interval {name!r}; expected one of {ACCEPTED}",
                           field=field) from None
