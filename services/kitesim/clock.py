"""The simulator's clock: a start instant plus a speed multiplier over the wall clock.

`now()` = start + (wall elapsed) * speed. Everything in kitesim that depends on market time
(sessions, ticks, candles served, fills, token expiry) asks this clock. Rate limits use the wall
clock instead, because they are about how fast a real client calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from mandi.core.clock import IST


class SimClock:
    def __init__(self, start: datetime | None = None, speed: float = 1.0,
                 wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self.set(start, speed)

    def set(self, start: datetime | None = None, speed: float | None = None) -> None:
        """Re-anchor: from now on the clock reads `start` (default: its current reading, at the
        speed it ran at until now) and runs at `speed`."""
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        if start is None:
            start = self.now() if hasattr(self, "_start") else datetime.now(UTC)
        if speed is not None:
            self.speed = float(speed)
        if start.tzinfo is None:
            raise ValueError("the simulator start must be timezone-aware")
        self._start = start.astimezone(UTC)
        self._wall0 = self._wall()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(self._wall() - self._wall0) * self.speed)

    def now_ist(self) -> datetime:
        return self.now().astimezone(IST)

    def epoch(self) -> float:
        return self._start.timestamp() + (self._wall() - self._wall0) * self.speed
