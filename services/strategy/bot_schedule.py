"""A bot's schedule: the daily window in which the runner keeps it running.

A schedule is `{"start": …, "stop": …, "days": …}`, stored with the bot (bots.schedule):

* `days` — "trading" (the default): every day the exchange calendar (mandi.core.calendar) has a
  session, special sessions included (Muhurat, weekend Budget and DR sessions); or weekday
  names ("mon,wed,fri" or a list), meaning the trading days that fall on them.
* `start`, `stop` — either "HH:MM" IST, or "open±N" / "close±N" (N minutes from the day's
  session open / close; "open" and "close" alone are N = 0). Every time follows the day's
  session: "HH:MM" is read against a normal session (09:15–15:30), so "09:10" means five
  minutes before the open and "15:35" five minutes after the close — on a Muhurat evening
  (18:15–19:15) that is 18:10–19:20. Defaults: "open-5" and "close+5".

What the runner does with it (BotRunner.apply_schedules, every listing): a scheduled bot is
started (actor `schedule`) inside its window on a scheduled day, once per day — a bot a user
stops during the window stays stopped until the next day's window; a bot in `error`, or last
stopped by the account's emergency stop, is never started by the schedule. A scheduled bot that
is running or paused outside every window is stopped (actor `schedule`; its positions are left
as they are — an MIS bot has squared off before the cut-off itself).

Not built: windows that cross midnight (a stop is clamped to the end of its day), several
windows a day, per-date exceptions beyond the exchange calendar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from mandi.core import calendar
from mandi.core.clock import IST, to_ist
from mandi.core.errors import InvalidInput

FIELDS = ("start", "stop", "days")
DEFAULT_START = "open-5"
DEFAULT_STOP = "close+5"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RELATIVE = re.compile(r"^(open|close)(?:([+-])(\d{1,4}))?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_NORMAL = {"open": calendar.SESSION_OPEN, "close": calendar.SESSION_CLOSE}


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


@dataclass(frozen=True)
class Schedule:
    start: str
    stop: str
    days: str  # "trading" or comma-separated weekday names
    start_at: tuple[str, int]  # (anchor, minutes from it)
    stop_at: tuple[str, int]
    weekdays: frozenset[int] | None  # None: every trading day

    def to_json(self) -> dict[str, str]:
        return {"start": self.start, "stop": self.stop, "days": self.days}

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """[start, stop) of `day` in IST, or None when the bot is not to run that day (no
        session, a weekday not listed, or a special session too short for the window)."""
        s = calendar.session(day)
        if s is None or (self.weekdays is not None and day.weekday() not in self.weekdays):
            return None
        anchors = {"open": s.open, "close": s.close}
        start = anchors[self.start_at[0]] + timedelta(minutes=self.start_at[1])
        stop = anchors[self.stop_at[0]] + timedelta(minutes=self.stop_at[1])
        start = max(start, datetime.combine(day, time(0), tzinfo=IST))
        stop = min(stop, datetime.combine(day + timedelta(days=1), time(0), tzinfo=IST))
        return (start, stop) if start < stop else None

    def inside(self, now: datetime) -> bool:
        local = to_ist(now)
        w = self.window(local.date())
        return w is not None and w[0] <= local < w[1]


def _time(text: Any, field: str, anchor: str) -> tuple[str, int]:
    """(anchor, offset minutes) of a start or stop; "HH:MM" anchors at `anchor` of a normal
    session."""
    if not isinstance(text, str):
        raise InvalidInput(f"{field} must be a string such as \"09:10\" or \"open-5\"",
                           field=field)
    t = text.strip().lower()
    m = _RELATIVE.match(t)
    if m:
        off = int(m.group(3) or 0) * (-1 if m.group(2) == "-" else 1)
        return m.group(1), off
    m = _CLOCK.match(t)
    if m and int(m.group(1)) < 24 and int(m.group(2)) < 60:
        return anchor, int(m.group(1)) * 60 + int(m.group(2)) - _minutes(_NORMAL[anchor])
    raise InvalidInput(f"{field} must be \"HH:MM\" (IST) or open±minutes / close±minutes, "
                       f"not {text!r}", field=field)


def _days(value: Any) -> tuple[str, frozenset[int] | None]:
    if value is None or value == "trading":
        return "trading", None
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names:
        raise InvalidInput("schedule.days must be \"trading\" or weekday names (mon … sun)",
                           field="schedule.days")
    picked = set()
    for n in names:
        key = str(n).strip().lower()
        if key in WEEKDAYS:
            picked.add(WEEKDAYS.index(key))
        elif key in FULL_WEEKDAYS:
            picked.add(FULL_WEEKDAYS.index(key))
        else:
            raise InvalidInput(f"schedule.days: {n!r} is not a weekday (mon … sun)",
                               field="schedule.days")
    return ",".join(WEEKDAYS[i] for i in sorted(picked)), frozenset(picked)


def parse(value: Any) -> Schedule:
    """A schedule from its JSON form; InvalidInput naming the field when it cannot be one."""
    if not isinstance(value, dict):
        raise InvalidInput("schedule must be an object with start, stop and days",
                           field="schedule")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"schedule has no field {unknown[0]!r} (it has start, stop, days)",
                           field=f"schedule.{unknown[0]}")
    start = value.get("start") or DEFAULT_START
    stop = value.get("stop") or DEFAULT_STOP
    start_at = _time(start, "schedule.start", "open")
    stop_at = _time(stop, "schedule.stop", "close")
    days, weekdays = _days(value.get("days"))
    normal = {k: _minutes(v) for k, v in _NORMAL.items()}
    a = normal[start_at[0]] + start_at[1]
    b = normal[stop_at[0]] + stop_at[1]
    if not 0 <= a < 24 * 60:
        raise InvalidInput(f"schedule.start {start!r} falls outside the day",
                           field="schedule.start")
    if not 0 < b <= 24 * 60:
        raise InvalidInput(f"schedule.stop {stop!r} falls outside the day",
                           field="schedule.stop")
    if a >= b:
        raise InvalidInput(f"schedule.stop {stop!r} must come after schedule.start {start!r}",
                           field="schedule.stop")
    if a >= normal["close"] or b <= normal["open"]:
        raise InvalidInput("the schedule's window must overlap the session (09:15–15:30)",
                           field="schedule.start")
    return Schedule(start.strip(), stop.strip(), days, start_at, stop_at, weekdays)


def decide(schedule: Schedule, status: str, started_day: date | None,
           now: datetime) -> str | None:
    """What the schedule wants of a bot at `now`: "start", "stop" or None. `started_day` is the
    IST day the schedule last started it (it starts a bot once a day)."""
    inside = schedule.inside(now)
    if status in ("running", "paused") and not inside:
        return "stop"
    if status in ("created", "stopped") and inside and started_day != to_ist(now).date():
        return "start"
    return None
