from datetime import date, datetime

from mandi.core import calendar as cal
from mandi.core.clock import IST


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


def test_trading_days_skip_weekends_and_holidays():
    days = cal.trading_days(date(2025, 10, 20), date(2025, 10, 26))
    assert days == [date(2025, 10, 20), date(2025, 10, 23), date(2025, 10, 24)]
    assert cal.next_trading_day(date(2025, 10, 20)) == date(2025, 10, 23)
    assert cal.previous_trading_day(date(2025, 10, 23)) == date(2025, 10, 20)


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
