"""NSE trading calendar: trading days, the normal-market session and the holiday list.

Pure functions of a date; no clock, no I/O. Sessions are the NSE normal market, 09:15–15:30 IST,
Monday to Friday except exchange holidays (pre-open, closing session and Muhurat trading are not
modelled). The holiday list holds the equity-segment trading holidays NSE published for
2015–2026 that fall on weekdays; 2027 is provisional (NSE publishes each year in December) and
lists only the fixed-date and best-estimated festival holidays.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from mandi.core.clock import IST

SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)
SESSION_MINUTES = 375  # 09:15 .. 15:29 inclusive, one per minute

_HOLIDAYS_BY_YEAR: dict[int, tuple[str, ...]] = {
    2015: ("01-26", "02-17", "03-06", "04-02", "04-03", "04-14", "05-01", "09-17", "09-25",
           "10-02", "10-22", "11-12", "11-25", "12-25"),
    2016: ("01-26", "03-07", "03-24", "03-25", "04-14", "04-15", "04-19", "07-06", "08-15",
           "09-05", "09-13", "10-11", "10-12", "10-31", "11-14"),
    2017: ("01-26", "02-24", "03-13", "04-04", "04-14", "05-01", "06-26", "08-15", "08-25",
           "10-02", "10-19", "10-20", "12-25"),
    2018: ("01-26", "02-13", "03-02", "03-29", "03-30", "05-01", "08-15", "08-22", "09-13",
           "09-20", "10-02", "10-18", "11-08", "11-23", "12-25"),
    2019: ("03-04", "03-21", "04-17", "04-19", "04-29", "05-01", "06-05", "08-12", "08-15",
           "09-02", "09-10", "10-02", "10-08", "10-21", "10-28", "11-12", "12-25"),
    2020: ("02-21", "03-10", "04-02", "04-06", "04-10", "04-14", "05-01", "05-25", "10-02",
           "11-16", "11-30", "12-25"),
    2021: ("01-26", "03-11", "03-29", "04-02", "04-14", "04-21", "05-13", "07-21", "08-19",
           "09-10", "10-15", "11-05", "11-19"),
    2022: ("01-26", "03-01", "03-18", "04-14", "04-15", "05-03", "08-09", "08-15", "08-31",
           "10-05", "10-24", "10-26", "11-08"),
    2023: ("01-26", "03-07", "03-30", "04-04", "04-07", "04-14", "05-01", "06-28", "08-15",
           "09-19", "10-02", "10-24", "11-14", "11-27", "12-25"),
    2024: ("01-22", "01-26", "03-08", "03-25", "03-29", "04-11", "04-17", "05-01", "05-20",
           "06-17", "07-17", "08-15", "10-02", "11-01", "11-15", "11-20", "12-25"),
    2025: ("02-26", "03-14", "03-31", "04-10", "04-14", "04-18", "05-01", "08-15", "08-27",
           "10-02", "10-21", "10-22", "11-05", "12-25"),
    2026: ("01-15", "01-26", "03-03", "03-26", "03-31", "04-03", "04-14", "05-01", "05-28",
           "06-26", "09-14", "10-02", "10-20", "11-10", "11-24", "12-25"),
    2027: ("01-26", "03-22", "03-26", "04-14", "10-29"),  # provisional
}

HOLIDAYS: frozenset[date] = frozenset(
    date.fromisoformat(f"{year}-{md}") for year, mds in _HOLIDAYS_BY_YEAR.items() for md in mds
)
FIRST_YEAR = min(_HOLIDAYS_BY_YEAR)
LAST_YEAR = max(_HOLIDAYS_BY_YEAR)


def is_holiday(day: date) -> bool:
    return day in HOLIDAYS


def is_trading_day(day: date) -> bool:
    """Monday–Friday and not an NSE holiday."""
    return day.weekday() < 5 and day not in HOLIDAYS


def session_open(day: date) -> datetime:
    """09:15 IST on `day`, tz-aware (whether or not `day` trades)."""
    return datetime.combine(day, SESSION_OPEN, tzinfo=IST)


def session_close(day: date) -> datetime:
    """15:30 IST on `day`, tz-aware (the end of the last minute, exclusive)."""
    return datetime.combine(day, SESSION_CLOSE, tzinfo=IST)


def session_minutes(day: date) -> list[datetime]:
    """Start of every one-minute candle of the session (375 of them), empty on a closed day."""
    if not is_trading_day(day):
        return []
    start = session_open(day)
    return [start + timedelta(minutes=i) for i in range(SESSION_MINUTES)]


def trading_days(start: date, end: date) -> list[date]:
    """Trading days in the closed range [start, end], ascending."""
    return list(iter_trading_days(start, end))


def iter_trading_days(start: date, end: date) -> Iterator[date]:
    day = start
    one = timedelta(days=1)
    while day <= end:
        if is_trading_day(day):
            yield day
        day += one


def next_trading_day(day: date) -> date:
    """The first trading day strictly after `day`."""
    day += timedelta(days=1)
    while not is_trading_day(day):
        day += timedelta(days=1)
    return day


def previous_trading_day(day: date) -> date:
    """The last trading day strictly before `day`."""
    day -= timedelta(days=1)
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day


def is_market_open(when: datetime) -> bool:
    """True inside the normal market [09:15, 15:30) IST of a trading day."""
    local = when.astimezone(IST)
    return is_trading_day(local.date()) and SESSION_OPEN <= local.time() < SESSION_CLOSE


def minute_index(when: datetime) -> int | None:
    """Index (0..374) of the session minute containing `when`, or None outside the session."""
    if not is_market_open(when):
        return None
    local = when.astimezone(IST)
    return (local.hour * 60 + local.minute) - (9 * 60 + 15)
