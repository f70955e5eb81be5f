"""Kite candle intervals: names, durations and the per-request maximum span Kite allows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

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


def parse_interval(name: str) -> Interval:
    try:
        return INTERVALS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown interval {name!r}; expected one of {', '.join(INTERVALS)}",
            field="interval",
        ) from None
