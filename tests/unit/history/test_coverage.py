"""coverage: expected bars per the NSE calendar, the gaps incremental fetch asks for, and the
completeness report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mandi.core.calendar import trading_days
from mandi.core.candles import to_ms
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from services.history.coverage import expected_bars, missing_ranges, report

NOW = datetime(2025, 1, 1, tzinfo=UTC)
JAN1 = datetime(2024, 1, 1, tzinfo=IST)  # Monday
JAN6 = datetime(2024, 1, 6, tzinfo=IST)  # Saturday: the week's five sessions are before it


def hhmm(when: datetime) -> str:
    return when.astimezone(IST).strftime("%Y-%m-%d %H:%M")


def test_expected_bars_when_minute_year_matches_calendar_sessions() -> None:
    exp = expected_bars("minute", JAN1, datetime(2025, 1, 1, tzinfo=IST), NOW)
    days = trading_days(JAN1.date(), datetime(2024, 12, 31).date())
    # 2024's sessions: every one 375 minutes except the DR sessions of 03-02 and 05-18
    # (45 + 60 = 105 each) and the 11-01 Muhurat hour (60); 01-20 (Sat) was a full session
    assert len(days) == 245 + 4  # 245 weekday sessions + 4 special ones
    assert len(exp.start) == 375 * (len(days) - 3) + 105 + 105 + 60


def test_expected_bars_when_special_sessions_expect_their_own_hours() -> None:
    sat = datetime(2024, 3, 2, tzinfo=IST)  # DR session: 09:15-10:00 and 11:30-12:30
    exp = expected_bars("15minute", sat, sat + timedelta(days=1), NOW)
    assert [hhmm(datetime.fromtimestamp(t / 1000, UTC)) for t in exp.start] == [
        "2024-03-02 09:15", "2024-03-02 09:30", "2024-03-02 09:45",
        "2024-03-02 11:30", "2024-03-02 11:45", "2024-03-02 12:00", "2024-03-02 12:15"]
    muhurat = datetime(2024, 11, 1, tzinfo=IST)  # 18:00-19:00 on the Diwali holiday
    exp = expected_bars("minute", muhurat, muhurat + timedelta(days=1), NOW)
    assert len(exp.start) == 60 and hhmm(datetime.fromtimestamp(exp.start[0] / 1000, UTC)) \
        == "2024-11-01 18:00"
    days = expected_bars("day", datetime(2026, 1, 30, tzinfo=IST),
                         datetime(2026, 2, 3, tzinfo=IST), NOW.replace(year=2027))
    # Fri 01-30, Budget Sunday 02-01, Mon 02-02 (Sat 01-31 closed; 02-03 is past the range)
    assert [hhmm(datetime.fromtimestamp(t / 1000, UTC)) for t in days.start] == [
        "2026-01-30 00:00", "2026-02-01 00:00", "2026-02-02 00:00"]


def test_expected_day_bar_of_muhurat_is_final_at_its_close() -> None:
    muhurat = datetime(2024, 11, 1, tzinfo=IST)
    during = expected_bars("day", muhurat, muhurat + timedelta(days=1),
                           muhurat.replace(hour=18, minute=30))
    after = expected_bars("day", muhurat, muhurat + timedelta(days=1),
                          muhurat.replace(hour=19))
    assert len(during.start) == 0 and len(after.start) == 1


def test_bar_ends_cut_at_the_span_end_and_day_bars_end_at_the_close() -> None:
    from services.history.coverage import bar_ends

    t = [datetime(2024, 3, 2, 9, 45, tzinfo=IST), datetime(2025, 11, 20, 15, 15, tzinfo=IST),
         datetime(2024, 3, 2, 11, 30, tzinfo=IST)]
    ends = bar_ends(np.array([to_ms(x) for x in t]), "60minute")
    # 09:45 + 60 min is cut at the DR span end 10:00; 15:15 at 15:30; 11:30 runs to 12:30
    assert [hhmm(datetime.fromtimestamp(e / 1000, UTC)) for e in ends] == [
        "2024-03-02 10:00", "2025-11-20 15:30", "2024-03-02 12:30"]
    day = bar_ends(np.array([to_ms(datetime(2024, 11, 1, tzinfo=IST))]), "day")
    assert hhmm(datetime.fromtimestamp(day[0] / 1000, UTC)) == "2024-11-01 19:00"


def test_expected_bars_when_60minute_last_bar_is_cut_at_close() -> None:
    exp = expected_bars("60minute", JAN1, JAN1 + timedelta(days=1), NOW)
    assert len(exp.start) == 7
    assert exp.end[-1] - exp.start[-1] == 15 * 60_000  # 15:15–15:30


def test_expected_bars_when_now_inside_session_excludes_forming_bar() -> None:
    now = JAN1.replace(hour=9, minute=20, second=30)
    exp = expected_bars("minute", JAN1, JAN1 + timedelta(days=1), now)
    assert len(exp.start) == 5  # 09:15..09:19 complete; 09:20 is forming


def test_missing_ranges_when_fully_stored_returns_empty() -> None:
    exp = expected_bars("5minute", JAN1, JAN6, NOW)
    assert missing_ranges(exp.start, "5minute", JAN1, JAN6, NOW) == []


def test_missing_ranges_when_hole_inside_session_returns_exactly_that_hole() -> None:
    exp = expected_bars("minute", JAN1, JAN6, NOW)
    hole = (exp.start >= to_ms(JAN1.replace(day=3, hour=11))) & (
        exp.start < to_ms(JAN1.replace(day=3, hour=11, minute=30)))
    gaps = missing_ranges(exp.start[~hole], "minute", JAN1, JAN6, NOW)
    assert [(hhmm(a), hhmm(b)) for a, b in gaps] == [("2024-01-03 11:00", "2024-01-03 11:30")]


def test_missing_ranges_when_tail_missing_coalesces_across_nights() -> None:
    exp = expected_bars("minute", JAN1, JAN6, NOW)
    stored = exp.start[exp.start < to_ms(JAN1.replace(day=2, hour=15))]
    gaps = missing_ranges(stored, "minute", JAN1, JAN6, NOW)
    assert [(hhmm(a), hhmm(b)) for a, b in gaps] == [("2024-01-02 15:00", "2024-01-05 15:30")]


def test_missing_ranges_when_stored_as_datetimes_gives_same_answer() -> None:
    exp = expected_bars("day", JAN1, JAN6, NOW)
    as_dt = [datetime.fromtimestamp(int(t) / 1000, tz=UTC) for t in exp.start[[0, 1, 4]]]
    gaps = missing_ranges(as_dt, "day", JAN1, JAN6, NOW)
    assert [(hhmm(a), hhmm(b)) for a, b in gaps] == [("2024-01-03 00:00", "2024-01-05 00:00")]


def test_missing_ranges_when_range_is_a_weekend_returns_empty() -> None:
    assert missing_ranges([], "minute", JAN6, JAN6 + timedelta(days=2), NOW) == []


def test_missing_ranges_when_from_after_to_raises_invalid_input() -> None:
    with pytest.raises(InvalidInput) as err:
        missing_ranges([], "minute", JAN6, JAN1, NOW)
    assert err.value.field == "from"


def test_report_when_session_missing_and_hole_lists_both() -> None:
    exp = expected_bars("15minute", JAN1, JAN6, NOW)
    day = np.array([datetime.fromtimestamp(int(t) / 1000, IST).day for t in exp.start])
    keep = (day != 3) & ~((day == 4) & (exp.start == exp.start[day == 4][2]))
    rep = report(exp.start[keep], "15minute", JAN1, JAN6, NOW)
    assert rep.sessions == 5 and rep.expected_bars == 5 * 25
    assert rep.missing_sessions == 1 and rep.missing_dates == ["2024-01-03"]
    assert [(hhmm(m.start), hhmm(m.end), m.missing_bars) for m in rep.missing] == [
        ("2024-01-04 09:45", "2024-01-04 10:00", 1)]
    assert rep.bars == 5 * 25 - 26
    assert rep.completeness == pytest.approx((5 * 25 - 26) / (5 * 25))


def test_report_when_no_range_given_uses_stored_span() -> None:
    exp = expected_bars("day", JAN1, JAN6, NOW)
    rep = report(exp.start[1:4], "day", None, None, NOW)
    assert (hhmm(rep.first_ts), hhmm(rep.last_ts)) == ("2024-01-02 00:00", "2024-01-04 00:00")
    assert rep.expected_bars == 3 and rep.completeness == 1.0


def test_report_when_nothing_stored_and_no_range_is_empty() -> None:
    rep = report([], "minute", None, None, NOW)
    assert rep.bars == 0 and rep.expected_bars == 0 and rep.first_ts is None
