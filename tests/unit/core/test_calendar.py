from datetime import date, datetime, time, timedelta

import pytest

from mandi.core import calendar as cal
from mandi.core.clock import IST

# NSE's published equity-segment trading holidays that fall on weekdays, written out from the
# circulars / copies the domain review cites (§2 [C1]-[C5]). Saturday/Sunday holidays are left
# out, as NSE lists them separately.
PUBLISHED_WEEKDAY_HOLIDAYS: dict[int, list[str]] = {
    # [C5] intradaytrade.net.in/holidays2015.php (15 days; 11-11 Diwali Laxmi Pujan*)
    2015: ["01-26", "02-17", "03-06", "04-02", "04-03", "04-14", "05-01", "09-17", "09-25",
           "10-02", "10-22", "11-11", "11-12", "11-25", "12-25"],
    # [C4] NSE circular 71/2017 of 2017-12-12 (16 days; 11-07 Diwali Laxmi Pujan*)
    2018: ["01-26", "02-13", "03-02", "03-29", "03-30", "05-01", "08-15", "08-22", "09-13",
           "09-20", "10-02", "10-18", "11-07", "11-08", "11-23", "12-25"],
    # [C3] NSE circular 113/2020 (14 days; 11-04 Diwali Laxmi Pujan*)
    2021: ["01-26", "03-11", "03-29", "04-02", "04-14", "04-21", "05-13", "07-21", "08-19",
           "09-10", "10-15", "11-04", "11-05", "11-19"],
    # NSE 2024 list plus the 01-22 (Ram Mandir), 05-20 and 11-20 (elections) additions
    2024: ["01-22", "01-26", "03-08", "03-25", "03-29", "04-11", "04-17", "05-01", "05-20",
           "06-17", "07-17", "08-15", "10-02", "11-01", "11-15", "11-20", "12-25"],
    # NSE 2025 list (14 days; 10-21 Diwali Laxmi Pujan* with Muhurat 13:45-14:45)
    2025: ["02-26", "03-14", "03-31", "04-10", "04-14", "04-18", "05-01", "08-15", "08-27",
           "10-02", "10-21", "10-22", "11-05", "12-25"],
    # [C1] the 15 published days plus [C2] 01-15 (Maharashtra civic polls, circular 2026-01-12)
    2026: ["01-15", "01-26", "03-03", "03-26", "03-31", "04-03", "04-14", "05-01", "05-28",
           "06-26", "09-14", "10-02", "10-20", "11-10", "11-24", "12-25"],
}


@pytest.mark.parametrize("year", sorted(PUBLISHED_WEEKDAY_HOLIDAYS))
def test_weekday_holidays_equal_nse_published_list_date_by_date(year):
    published = [date.fromisoformat(f"{year}-{md}") for md in PUBLISHED_WEEKDAY_HOLIDAYS[year]]
    assert all(d.weekday() < 5 for d in published)
    day, closed = date(year, 1, 1), []
    while day.year == year:
        if day.weekday() < 5 and not cal.is_business_day(day):
            closed.append(day)
        day += timedelta(days=1)
    assert closed == published
    # every published holiday is closed unless NSE held a special session on it
    for d in published:
        assert cal.is_trading_day(d) == (d in cal.SPECIAL_SESSIONS), d


def test_diwali_laxmi_pujan_days_have_no_normal_session():
    # finding F: these three were missing and kitesim invented full sessions on them
    for d in (date(2015, 11, 11), date(2018, 11, 7), date(2021, 11, 4)):
        s = cal.session(d)
        assert s is None or s.kind == "muhurat", d
    assert cal.session(date(2015, 11, 11)) is None
    assert cal.session_minutes(date(2015, 11, 11)) == []


def test_is_trading_day_when_weekend_or_holiday_false():
    assert cal.is_trading_day(date(2025, 11, 20))  # Thursday
    assert not cal.is_trading_day(date(2025, 11, 22))  # Saturday
    assert not cal.is_trading_day(date(2025, 10, 2))  # Gandhi Jayanti
    assert not cal.is_trading_day(date(2024, 1, 22))  # special holiday


def test_session_bounds_are_aware_ist():
    d = date(2025, 11, 20)
    assert cal.session_open(d) == datetime(2025, 11, 20, 9, 15, tzinfo=IST)
    assert cal.session_close(d).utcoffset().total_seconds() == 5.5 * 3600
    mins = cal.session_minutes(d)
    assert len(mins) == 375 and mins[-1].time().isoformat() == "15:29:00"
    assert cal.session_minutes(date(2025, 11, 22)) == []


def test_trading_days_skip_weekends_and_holidays_but_keep_muhurat():
    # 2025-10-21 is the Laxmi Pujan holiday with a Muhurat session; 10-22 is a full holiday
    days = cal.trading_days(date(2025, 10, 20), date(2025, 10, 26))
    assert days == [date(2025, 10, 20), date(2025, 10, 21), date(2025, 10, 23),
                    date(2025, 10, 24)]
    assert cal.next_trading_day(date(2025, 10, 21)) == date(2025, 10, 23)
    assert cal.previous_trading_day(date(2025, 10, 23)) == date(2025, 10, 21)
    assert not cal.is_business_day(date(2025, 10, 21))


def test_holidays_cover_2015_to_2027_and_are_weekdays():
    years = {d.year for d in cal.HOLIDAYS}
    assert years == set(range(2015, 2028))
    assert all(d.weekday() < 5 for d in cal.HOLIDAYS)
    assert 240 <= len(cal.trading_days(date(2024, 1, 1), date(2024, 12, 31))) <= 252


def test_minute_index_inside_and_outside_session():
    assert cal.minute_index(datetime(2025, 11, 20, 9, 15, tzinfo=IST)) == 0
    assert cal.minute_index(datetime(2025, 11, 20, 15, 29, 59, tzinfo=IST)) == 374
    assert cal.minute_index(datetime(2025, 11, 20, 15, 30, tzinfo=IST)) is None
    assert not cal.is_market_open(datetime(2025, 11, 20, 9, 14, 59, tzinfo=IST))


# --- special sessions (finding G) ---------------------------------------------------------------

@pytest.mark.parametrize("day, spans, minutes", [
    # Muhurat 2024: 18:00-19:00 -> 60 minutes
    (date(2024, 11, 1), [(time(18, 0), time(19, 0))], 60),
    # Muhurat 2025: 13:45-14:45 -> 60 minutes
    (date(2025, 10, 21), [(time(13, 45), time(14, 45))], 60),
    # Saturday full session: 09:15-15:30 -> 375 minutes
    (date(2024, 1, 20), [(time(9, 15), time(15, 30))], 375),
    # DR drills: 09:15-10:00 (45) + 11:30-12:30 (60) = 105 minutes
    (date(2024, 3, 2), [(time(9, 15), time(10, 0)), (time(11, 30), time(12, 30))], 105),
    (date(2024, 5, 18), [(time(9, 15), time(10, 0)), (time(11, 30), time(12, 30))], 105),
    # Budget Saturday 2025 and Budget Sunday 2026: full sessions
    (date(2025, 2, 1), [(time(9, 15), time(15, 30))], 375),
    (date(2026, 2, 1), [(time(9, 15), time(15, 30))], 375),
])
def test_special_sessions_trade_with_their_own_hours(day, spans, minutes):
    assert cal.is_trading_day(day)
    s = cal.session(day)
    assert [(cal._at(day, a).time(), cal._at(day, b).time()) for a, b in s.spans] == spans
    assert s.minutes == minutes
    mins = cal.session_minutes(day)
    assert len(mins) == minutes
    assert mins[0] == datetime.combine(day, spans[0][0], tzinfo=IST)
    assert mins[-1] == datetime.combine(day, spans[-1][1], tzinfo=IST) - timedelta(minutes=1)
    assert cal.session_open(day) == mins[0]
    assert cal.session_close(day) == datetime.combine(day, spans[-1][1], tzinfo=IST)


def test_dr_session_minutes_skip_the_break():
    d = date(2024, 3, 2)
    assert cal.minute_index(datetime(2024, 3, 2, 9, 59, 30, tzinfo=IST)) == 44  # 09:59 - 09:15
    assert cal.minute_index(datetime(2024, 3, 2, 10, 30, tzinfo=IST)) is None  # the break
    assert cal.minute_index(datetime(2024, 3, 2, 11, 30, tzinfo=IST)) == 45  # 45 before it
    assert cal.minute_index(datetime(2024, 3, 2, 12, 29, tzinfo=IST)) == 104  # 45 + 59
    assert not cal.is_market_open(datetime(2024, 3, 2, 12, 30, tzinfo=IST))
    # 60-minute grid from each span's start: 09:15-10:00 (cut short), 11:30-12:30
    assert cal.session(d).bars(60) == [(555, 600), (690, 750)]


def test_muhurat_is_open_only_in_its_hour():
    assert not cal.is_market_open(datetime(2024, 11, 1, 9, 15, tzinfo=IST))
    assert cal.minute_index(datetime(2024, 11, 1, 18, 0, tzinfo=IST)) == 0
    assert cal.minute_index(datetime(2024, 11, 1, 18, 59, tzinfo=IST)) == 59
    assert cal.minute_index(datetime(2024, 11, 1, 19, 0, tzinfo=IST)) is None


# --- MIS cut-off (review 2.8) -------------------------------------------------------------------

def test_mis_cutoff_equity_1520_fno_1525_on_a_normal_day():
    d = date(2025, 11, 20)
    assert cal.mis_cutoff(d, "NSE") == datetime(2025, 11, 20, 15, 20, tzinfo=IST)
    assert cal.mis_cutoff(d, "BSE") == datetime(2025, 11, 20, 15, 20, tzinfo=IST)
    assert cal.mis_cutoff(d, "NFO") == datetime(2025, 11, 20, 15, 25, tzinfo=IST)
    assert cal.mis_cutoff(d, "bfo") == datetime(2025, 11, 20, 15, 25, tzinfo=IST)
    assert cal.mis_cutoff(date(2025, 11, 22), "NSE") is None  # Saturday


def test_mis_cutoff_of_special_sessions():
    # Muhurat 2024 closes 19:00; Zerodha squares off 10 min before on every segment -> 18:50
    assert cal.mis_cutoff(date(2024, 11, 1), "NSE").time() == time(18, 50)
    assert cal.mis_cutoff(date(2024, 11, 1), "NFO").time() == time(18, 50)
    # Budget Sunday 2026 is a normal-length session: 15:20 / 15:25
    assert cal.mis_cutoff(date(2026, 2, 1), "NSE").time() == time(15, 20)
    assert cal.mis_cutoff(date(2026, 2, 1), "NFO").time() == time(15, 25)
    # DR session closes 12:30: 12:20 equity, 12:25 F&O
    assert cal.mis_cutoff(date(2024, 5, 18), "NSE").time() == time(12, 20)
    assert cal.mis_cutoff(date(2024, 5, 18), "NFO").time() == time(12, 25)


def test_next_open_finds_the_second_span_of_a_dr_session_and_the_next_day():
    in_break = datetime(2024, 3, 2, 10, 30, tzinfo=IST)
    assert cal.next_open(in_break) == datetime(2024, 3, 2, 11, 30, tzinfo=IST)
    # after its close: Monday 2024-03-04 09:15 (Sunday closed)
    assert cal.next_open(datetime(2024, 3, 2, 12, 30, tzinfo=IST)) == \
        datetime(2024, 3, 4, 9, 15, tzinfo=IST)
    # a Thursday evening before the Muhurat Friday 2024-11-01: its 18:00 open
    assert cal.next_open(datetime(2024, 10, 31, 16, 0, tzinfo=IST)) == \
        datetime(2024, 11, 1, 18, 0, tzinfo=IST)
    assert cal.next_open(datetime(2025, 11, 20, 8, 0, tzinfo=IST)) == \
        datetime(2025, 11, 20, 9, 15, tzinfo=IST)
