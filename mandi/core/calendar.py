"""NSE trading calendar: sessions (normal and special), trading days, holidays, MIS cut-offs.

Pure functions of a date; no clock, no I/O. The normal market is 09:15–15:30 IST, Monday to
Friday except exchange holidays (pre-open and the closing session are not modelled). Some days
trade with their own hours: Muhurat sessions (often on a holiday or a weekend) and weekend
special sessions (Budget days, disaster-recovery drills). They live in one table,
`SPECIAL_SESSIONS`, and win over both the holiday list and the weekend rule.

A session is one or more spans [start, end) of IST wall time. Intraday bars are on a grid
anchored at the start of each span (09:15 on a normal day), the last bar of a span cut short at
its end, so a 60-minute grid on a normal day ends with 15:15–15:30 as Kite's does.

The holiday list holds the equity-segment trading holidays NSE published for 2015–2026 that fall
on weekdays; 2027 is provisional (NSE publishes each year in December) and lists only the
fixed-date and best-estimated festival holidays.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from mandi.core.clock import IST

SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)
SESSION_MINUTES = 375  # 09:15 .. 15:29 inclusive, one per minute
FNO_EXCHANGES = frozenset({"NFO", "BFO"})

_HOLIDAYS_BY_YEAR: dict[int, tuple[str, ...]] = {
    2015: ("01-26", "02-17", "03-06", "04-02", "04-03", "04-14", "05-01", "09-17", "09-25",
           "10-02", "10-22", "11-11", "11-12", "11-25", "12-25"),
    2016: ("01-26", "03-07", "03-24", "03-25", "04-14", "04-15", "04-19", "07-06", "08-15",
           "09-05", "09-13", "10-11", "10-12", "10-31", "11-14"),
    2017: ("01-26", "02-24", "03-13", "04-04", "04-14", "05-01", "06-26", "08-15", "08-25",
           "10-02", "10-19", "10-20", "12-25"),
    2018: ("01-26", "02-13", "03-02", "03-29", "03-30", "05-01", "08-15", "08-22", "09-13",
           "09-20", "10-02", "10-18", "11-07", "11-08", "11-23", "12-25"),
    2019: ("03-04", "03-21", "04-17", "04-19", "04-29", "05-01", "06-05", "08-12", "08-15",
           "09-02", "09-10", "10-02", "10-08", "10-21", "10-28", "11-12", "12-25"),
    2020: ("02-21", "03-10", "04-02", "04-06", "04-10", "04-14", "05-01", "05-25", "10-02",
           "11-16", "11-30", "12-25"),
    2021: ("01-26", "03-11", "03-29", "04-02", "04-14", "04-21", "05-13", "07-21", "08-19",
           "09-10", "10-15", "11-04", "11-05", "11-19"),
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


_FULL = ((time(9, 15), time(15, 30)),)
# NSE's disaster-recovery drills: the primary site 09:15–10:00, the DR site 11:30–12:30
_DR = ((time(9, 15), time(10, 0)), (time(11, 30), time(12, 30)))

# One row per day that trades with its own hours: (kind, spans, MIS cut-off before the close
# for equity and for F&O in minutes). Zerodha squares off MIS 10 min before the close on
# equity and 5 min before on F&O in a normal-length session (15:20 / 15:25), and "10 minutes
# prior to market closing" for every segment in Muhurat sessions (its 2021 and 2022 notices).
# Sources: Muhurat 2018 everydayintradaytips.com/2018/11; 2019 zeenews.india.com (Sun 27 Oct);
# 2021 freepressjournal.in; 2022 livemint.com 2022-10-24; 2023 angelone.in (Sun 12 Nov);
# 2024 NSE circular via businesstimes.co 2024-10-21; 2025 ndtvprofit.com (13:45–14:45);
# 2024-01-20 full session dsij.in; 2024-03-02 / 05-18 DR sessions bigul.co; 2025-02-01 and
# 2026-02-01 Budget sessions (NSE circular 2026-01-16, full normal hours).
# Not listed: Muhurat 2026-11-08 (Sunday) — its hours were not found in a published source.
SPECIAL_SESSIONS: dict[date, tuple[str, tuple[tuple[time, time], ...], int, int]] = {
    date(2018, 11, 7): ("muhurat", ((time(17, 30), time(18, 30)),), 10, 10),
    date(2019, 10, 27): ("muhurat", ((time(18, 15), time(19, 15)),), 10, 10),
    date(2021, 11, 4): ("muhurat", ((time(18, 15), time(19, 15)),), 10, 10),
    date(2022, 10, 24): ("muhurat", ((time(18, 15), time(19, 15)),), 10, 10),
    date(2023, 11, 12): ("muhurat", ((time(18, 15), time(19, 15)),), 10, 10),
    date(2024, 1, 20): ("special", _FULL, 10, 5),
    date(2024, 3, 2): ("special", _DR, 10, 5),
    date(2024, 5, 18): ("special", _DR, 10, 5),
    date(2024, 11, 1): ("muhurat", ((time(18, 0), time(19, 0)),), 10, 10),
    date(2025, 2, 1): ("special", _FULL, 10, 5),
    date(2025, 10, 21): ("muhurat", ((time(13, 45), time(14, 45)),), 10, 10),
    date(2026, 2, 1): ("special", _FULL, 10, 5),
}

HOLIDAYS: frozenset[date] = frozenset(
    date.fromisoformat(f"{year}-{md}") for year, mds in _HOLIDAYS_BY_YEAR.items() for md in mds
)
FIRST_YEAR = min(_HOLIDAYS_BY_YEAR)
LAST_YEAR = max(_HOLIDAYS_BY_YEAR)


def _min(t: time) -> int:
    return t.hour * 60 + t.minute


@dataclass(frozen=True, slots=True)
class Session:
    """One day's trading session. Times are minutes after IST midnight."""

    day: date
    kind: str  # "normal", "muhurat" or "special"
    spans: tuple[tuple[int, int], ...]  # [start, end) minutes, ascending, disjoint
    mis_cutoff_equity: int  # minute of the day from which MIS is squared off
    mis_cutoff_fno: int

    @property
    def open_minute(self) -> int:
        return self.spans[0][0]

    @property
    def close_minute(self) -> int:
        return self.spans[-1][1]

    @property
    def minutes(self) -> int:
        return sum(e - s for s, e in self.spans)

    @property
    def open(self) -> datetime:
        return _at(self.day, self.open_minute)

    @property
    def close(self) -> datetime:
        return _at(self.day, self.close_minute)

    def minute_starts(self) -> list[int]:
        """Minute of the day of every one-minute bar, in order."""
        return [m for s, e in self.spans for m in range(s, e)]

    def bars(self, step: int) -> list[tuple[int, int]]:
        """(start, end) minutes of the day of every `step`-minute bar: a grid from each span's
        start, the last bar of a span cut short at its end."""
        return [(m, min(m + step, e)) for s, e in self.spans for m in range(s, e, step)]

    def minute_index(self, minute_of_day: int) -> int | None:
        """Index of the session minute `minute_of_day`, or None outside the session."""
        before = 0
        for s, e in self.spans:
            if minute_of_day < s:
                return None
            if minute_of_day < e:
                return before + minute_of_day - s
            before += e - s
        return None

    def minute_of(self, index: int) -> int:
        """Minute of the day of session minute number `index` (0-based)."""
        for s, e in self.spans:
            if index < e - s:
                return s + index
            index -= e - s
        raise ValueError("minute index past the session's end")

    def minutes_before(self, minute_of_day: int) -> int:
        """How many session minutes start before `minute_of_day`."""
        return sum(max(0, min(e, minute_of_day) - s) for s, e in self.spans)

    def minute_start(self, index: int) -> datetime:
        """Start of session minute number `index`, tz-aware IST."""
        return _at(self.day, self.minute_of(index))

    def mis_cutoff_minute(self, exchange: str) -> int:
        return self.mis_cutoff_fno if exchange.upper() in FNO_EXCHANGES else \
            self.mis_cutoff_equity

    def mis_cutoff(self, exchange: str) -> datetime:
        """When Zerodha squares off MIS on `exchange` (equity 15:20, NFO/BFO 15:25 normally)."""
        return _at(self.day, self.mis_cutoff_minute(exchange))


def _at(day: date, minute: int) -> datetime:
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=IST)


_NORMAL_SPANS = ((_min(SESSION_OPEN), _min(SESSION_CLOSE)),)


@lru_cache(maxsize=8192)
def session(day: date) -> Session | None:
    """The session of `day`, or None when the exchange does not trade."""
    special = SPECIAL_SESSIONS.get(day)
    if special is not None:
        kind, spans, cut_eq, cut_fno = special
        mins = tuple((_min(s), _min(e)) for s, e in spans)
        close = mins[-1][1]
        return Session(day, kind, mins, close - cut_eq, close - cut_fno)
    if day.weekday() >= 5 or day in HOLIDAYS:
        return None
    close = _NORMAL_SPANS[-1][1]
    return Session(day, "normal", _NORMAL_SPANS, close - 10, close - 5)


def is_trading_day(day: date) -> bool:
    """True when the exchange has a session on `day`: Monday–Friday and not an NSE holiday, or
    a special session (Muhurat, weekend session)."""
    return day in SPECIAL_SESSIONS or (day.weekday() < 5 and day not in HOLIDAYS)


def is_business_day(day: date) -> bool:
    """Monday–Friday and not an NSE holiday: a day with a normal session (expiries and
    settlement follow these; a Muhurat session on a holiday does not make it one)."""
    return day.weekday() < 5 and day not in HOLIDAYS


def session_open(day: date) -> datetime:
    """The session's first minute on `day` (09:15 IST unless a special session says otherwise,
    and 09:15 on a closed day), tz-aware."""
    s = SPECIAL_SESSIONS.get(day)
    return datetime.combine(day, s[1][0][0] if s else SESSION_OPEN, tzinfo=IST)


def session_close(day: date) -> datetime:
    """The end of the session's last minute (exclusive) on `day`: 15:30 IST unless a special
    session says otherwise, tz-aware."""
    s = SPECIAL_SESSIONS.get(day)
    return datetime.combine(day, s[1][-1][1] if s else SESSION_CLOSE, tzinfo=IST)


def session_minutes(day: date) -> list[datetime]:
    """Start of every one-minute candle of the session (375 normally), empty on a closed day."""
    s = session(day)
    if s is None:
        return []
    return [_at(day, m) for m in s.minute_starts()]


def mis_cutoff(day: date, exchange: str) -> datetime | None:
    """When MIS positions on `exchange` are squared off on `day` (None on a closed day)."""
    s = session(day)
    return None if s is None else s.mis_cutoff(exchange)


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


def next_open(when: datetime) -> datetime:
    """The start of the first session span strictly after `when` (later today — the second
    span of a DR session — or the next trading day's open), tz-aware IST."""
    local = when.astimezone(IST)
    day = local.date()
    s = session(day)
    if s is not None:
        for a, _ in s.spans:
            start = _at(day, a)
            if start > local:
                return start
    nxt = next_trading_day(day)
    return _at(nxt, session(nxt).open_minute)  # type: ignore[union-attr]


def is_market_open(when: datetime) -> bool:
    """True inside a session of a trading day (normal: [09:15, 15:30) IST)."""
    return minute_index(when) is not None


def minute_index(when: datetime) -> int | None:
    """Index of the session minute containing `when` (0..374 on a normal day), or None outside
    the session."""
    local = when.astimezone(IST)
    s = session(local.date())
    if s is None:
        return None
    return s.minute_index(local.hour * 60 + local.minute)
