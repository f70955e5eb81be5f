"""Bot schedules (services/strategy/bot_schedule.py): windows from the exchange calendar, special
sessions included, and what the schedule asks of a bot at a given instant."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from services.strategy.bot_schedule import decide, parse

MON = date(2026, 3, 2)  # a normal trading Monday
HOLI = date(2026, 3, 3)  # an NSE holiday (Tuesday)
SAT = date(2026, 3, 7)
MUHURAT = date(2025, 10, 21)  # 13:45–14:45
BUDGET_SUNDAY = date(2026, 2, 1)  # a full special session on a Sunday


def at(day: date, hh: int, mm: int) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=IST)


def test_clock_times_are_a_normal_day_window_and_follow_special_sessions():
    s = parse({"start": "09:10", "stop": "15:35", "days": "trading"})
    assert s.window(MON) == (at(MON, 9, 10), at(MON, 15, 35))
    assert s.window(HOLI) is None and s.window(SAT) is None
    # five minutes either side of the Muhurat hour, as 09:10/15:35 are of a normal session
    assert s.window(MUHURAT) == (at(MUHURAT, 13, 40), at(MUHURAT, 14, 50))
    assert s.window(BUDGET_SUNDAY) == (at(BUDGET_SUNDAY, 9, 10), at(BUDGET_SUNDAY, 15, 35))


def test_relative_times_and_defaults():
    s = parse({})
    assert s.to_json() == {"start": "open-5", "stop": "close+5", "days": "trading"}
    assert s.window(MON) == (at(MON, 9, 10), at(MON, 15, 35))
    s = parse({"start": "open", "stop": "close-30"})
    assert s.window(MUHURAT) == (at(MUHURAT, 13, 45), at(MUHURAT, 14, 15))


def test_weekdays_pick_trading_days_only():
    s = parse({"days": ["Monday", "tue", "sat"]})
    assert s.days == "mon,tue,sat"
    assert s.window(MON) is not None
    assert s.window(HOLI) is None  # a Tuesday, but a holiday
    assert s.window(SAT) is None  # a Saturday without a session
    assert s.window(date(2026, 3, 4)) is None  # a trading Wednesday, not listed


def test_decide_starts_once_a_day_inside_the_window_and_stops_outside():
    s = parse({"start": "09:10", "stop": "15:35"})
    assert decide(s, "created", None, at(MON, 9, 9)) is None
    assert decide(s, "created", None, at(MON, 9, 10)) == "start"
    assert decide(s, "stopped", date(2026, 2, 27), at(MON, 12, 0)) == "start"
    assert decide(s, "stopped", MON, at(MON, 12, 0)) is None  # a user stopped it today
    assert decide(s, "error", None, at(MON, 12, 0)) is None
    assert decide(s, "running", MON, at(MON, 15, 34)) is None
    assert decide(s, "running", MON, at(MON, 15, 35)) == "stop"
    assert decide(s, "paused", MON, at(SAT, 10, 0)) == "stop"
    assert decide(s, "stopped", None, at(SAT, 10, 0)) is None
    assert decide(s, "created", None, at(HOLI, 10, 0)) is None
    # UTC instants are read in IST: 03:40 UTC is 09:10 IST
    assert decide(s, "created", None, datetime.fromisoformat("2026-03-02T03:40:00+00:00")) \
        == "start"


@pytest.mark.parametrize(("value", "field"), [
    ("09:10", "schedule"),
    ({"begin": "09:10"}, "schedule.begin"),
    ({"start": "25:00"}, "schedule.start"),
    ({"start": "open+x"}, "schedule.start"),
    ({"start": 910}, "schedule.start"),
    ({"stop": "08:00"}, "schedule.stop"),
    ({"start": "12:00", "stop": "11:00"}, "schedule.stop"),
    ({"start": "16:00", "stop": "17:00"}, "schedule.start"),
    ({"days": "weekends"}, "schedule.days"),
    ({"days": []}, "schedule.days"),
])
def test_bad_schedules_name_the_field(value, field):
    with pytest.raises(InvalidInput) as err:
        parse(value)
    assert err.value.field == field
