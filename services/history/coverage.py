"""Coverage: which bars *should* exist for a range, and which of them are stored.

Pure functions (no I/O): the caller reads stored timestamps through the store and passes them
in. "Expected" follows the NSE calendar (`mandi.core.calendar`), special sessions included:
intraday bars start every `interval` minutes from the start of each span of a day's session
(09:15 IST on a normal day), the last one of a span cut short at its end (15:30); day bars are
stamped at IST midnight of trading days (as Kite stamps them). A bar is expected only once it
is complete by `now` — the forming bar is not yet missing, and `bar_ends` tells the fetcher and
the validator which bars Kite sent while still forming, so they are never stored as final.

Two consumers: incremental fetch asks `missing_ranges` what to request from Kite (holes and
the tail after the last bar, coalesced so adjacent gaps cost one request), and GetCoverage
shows `report` as the data-completeness report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np

from mandi.core.calendar import SESSION_CLOSE, SESSION_OPEN, Session, session, trading_days
from mandi.core.candles import from_ms, to_ms
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from mandi.core.intervals import Interval, parse_interval

_IST_OFFSET_MS = 19_800_000
_DAY_MS = 86_400_000
_OPEN_MS = (SESSION_OPEN.hour * 60 + SESSION_OPEN.minute) * 60_000
_CLOSE_MS = (SESSION_CLOSE.hour * 60 + SESSION_CLOSE.minute) * 60_000


@dataclass(frozen=True)
class Expected:
    """Expected bars of a range: start and end (epoch ms) and the session (IST date) of each."""

    start: np.ndarray
    end: np.ndarray
    day: np.ndarray  # IST day number (days since 1970-01-01) of each bar's session


@dataclass(frozen=True)
class MissingRange:
    start: datetime  # start of the first missing bar
    end: datetime  # end of the last missing bar (exclusive)
    missing_bars: int


@dataclass(frozen=True)
class CoverageReport:
    """The numbers of GetCoverageResponse. `completeness` = expected bars stored / expected
    bars (bars stored outside the expected grid count in `bars` but cannot lift it past 1)."""

    interval: str
    first_ts: datetime | None
    last_ts: datetime | None
    bars: int
    expected_bars: int
    sessions: int
    missing_sessions: int
    missing_dates: list[str] = field(default_factory=list)
    missing: list[MissingRange] = field(default_factory=list)
    completeness: float = 1.0


def _interval(interval: str | Interval) -> Interval:
    return interval if isinstance(interval, Interval) else parse_interval(interval)


def as_ms(stored: Any) -> np.ndarray:
    """Stored timestamps — epoch-ms ints, datetime64 or tz-aware datetimes — as sorted int64 ms."""
    if stored is None:
        return np.empty(0, dtype=np.int64)
    arr = np.asarray(stored)
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.dtype.kind == "M":
        out = arr.astype("datetime64[ms]").astype(np.int64)
    elif arr.dtype.kind in "iu":
        out = arr.astype(np.int64)
    else:
        out = np.fromiter((to_ms(t) for t in stored), dtype=np.int64, count=arr.size)
    return np.sort(out)


def _check_range(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("range bounds must be timezone-aware", field="from")
    if start >= end:
        raise InvalidInput("'from' must be before 'to'", field="from")


def _day_numbers(days: list[date]) -> np.ndarray:
    return np.array([d.toordinal() for d in days], dtype=np.int64) - _EPOCH_ORD


_EPOCH_ORD = date(1970, 1, 1).toordinal()


def sessions_of(day_numbers: np.ndarray) -> tuple[np.ndarray, list[Session | None]]:
    """(inverse index, session per distinct day) of IST day numbers: one calendar lookup per
    distinct day."""
    distinct, inverse = np.unique(day_numbers, return_inverse=True)
    return inverse, [session(date.fromordinal(int(d) + _EPOCH_ORD)) for d in distinct]


def bar_ends(ts: np.ndarray, interval: str | Interval) -> np.ndarray:
    """Epoch ms at which each bar starting at `ts` (epoch ms) is final: an intraday bar at the
    end of its step cut short at its session span's end; a day bar at its session's close."""
    iv = _interval(interval)
    ts = np.asarray(ts, dtype=np.int64)
    if not len(ts):
        return ts.copy()
    day = (ts + _IST_OFFSET_MS) // _DAY_MS
    midnight = day * _DAY_MS - _IST_OFFSET_MS
    inverse, sessions = sessions_of(day)
    if iv.is_intraday:
        minute = (ts - midnight) // 60_000
        cap = np.full(len(sessions), _CLOSE_MS, dtype=np.int64)[inverse]
        for j, sess in enumerate(sessions):
            if sess is None or sess.kind == "normal":
                continue
            rows = np.flatnonzero(inverse == j)
            span_end = np.full(len(rows), _DAY_MS, dtype=np.int64)
            for _, e in reversed(sess.spans):
                span_end = np.where(minute[rows] < e, e * 60_000, span_end)
            cap[rows] = span_end
        return np.minimum(ts + iv.minutes * 60_000, midnight + np.maximum(cap, ts - midnight
                                                                            + 60_000))
    close = np.array([(s.close_minute if s is not None else _CLOSE_MS // 60_000) * 60_000
                      for s in sessions], dtype=np.int64)
    return midnight + close[inverse]


def expected_bars(
    interval: str | Interval, start: datetime, end: datetime, now: datetime
) -> Expected:
    """Bars starting in [start, end) on NSE trading days, complete by `now`."""
    iv = _interval(interval)
    _check_range(start, end)
    days = trading_days(start.astimezone(IST).date(), end.astimezone(IST).date())
    if not days:
        empty = np.empty(0, dtype=np.int64)
        return Expected(empty, empty, empty)
    sessions = [session(d) for d in days]
    special = [s for s in sessions if s is not None and s.kind != "normal"]
    normal = [d for d, s in zip(days, sessions, strict=True) if s is not None
              and s.kind == "normal"]
    day_num = _day_numbers(normal)
    midnight = day_num * _DAY_MS - _IST_OFFSET_MS  # IST midnight in UTC epoch ms
    if iv.is_intraday:
        step = iv.minutes * 60_000
        offsets = np.arange(_OPEN_MS, _CLOSE_MS, step, dtype=np.int64)
        starts = (midnight[:, None] + offsets[None, :]).ravel()
        ends = np.minimum(starts + step, np.repeat(midnight + _CLOSE_MS, len(offsets)))
        bar_day = np.repeat(day_num, len(offsets))
        if special:
            extra: list[tuple[int, int, int]] = []
            for sess in special:
                dn = sess.day.toordinal() - _EPOCH_ORD
                m0 = dn * _DAY_MS - _IST_OFFSET_MS
                extra += [(m0 + a * 60_000, m0 + b * 60_000, dn) for a, b in sess.bars(iv.minutes)]
            starts, ends, bar_day = _merge(starts, ends, bar_day, extra)
        done = ends
    else:
        close = np.full(len(normal), _CLOSE_MS, dtype=np.int64)
        if special:
            extra_days = _day_numbers([s.day for s in special])
            day_num = np.concatenate((day_num, extra_days))
            close = np.concatenate((close, np.array([s.close_minute * 60_000 for s in special],
                                                    dtype=np.int64)))
            order = np.argsort(day_num, kind="stable")
            day_num, close = day_num[order], close[order]
        midnight = day_num * _DAY_MS - _IST_OFFSET_MS
        starts, bar_day = midnight, day_num
        done = midnight + close  # the day's bar is final at the close
        ends = midnight + _DAY_MS  # but spans the whole IST day
    keep = (starts >= to_ms(start)) & (starts < to_ms(end)) & (done <= to_ms(now))
    return Expected(starts[keep], ends[keep], bar_day[keep])


def _merge(starts: np.ndarray, ends: np.ndarray, bar_day: np.ndarray,
           extra: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normal days' bars with the special sessions' bars, in time order."""
    e = np.array(extra, dtype=np.int64).reshape(-1, 3)
    s_all = np.concatenate((starts, e[:, 0]))
    order = np.argsort(s_all, kind="stable")
    return (s_all[order], np.concatenate((ends, e[:, 1]))[order],
            np.concatenate((bar_day, e[:, 2]))[order])


def _runs(mask: np.ndarray, breaks: np.ndarray | None = None) -> list[tuple[int, int]]:
    """[first, last] index pairs of runs of True in `mask`; a run also ends where `breaks`
    (same length, True at the first index of a new group) starts a new group."""
    if not mask.any():
        return []
    m = mask.astype(np.int8)
    edges = np.diff(np.concatenate(([0], m, [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1) - 1
    if breaks is None:
        return list(zip(starts.tolist(), stops.tolist(), strict=True))
    out = []
    for s, e in zip(starts.tolist(), stops.tolist(), strict=True):
        cuts = np.flatnonzero(breaks[s + 1:e + 1]) + s + 1
        lo = s
        for cut in cuts.tolist():
            out.append((lo, cut - 1))
            lo = cut
        out.append((lo, e))
    return out


def missing_ranges(
    stored: Any, interval: str | Interval, start: datetime, end: datetime, now: datetime
) -> list[tuple[datetime, datetime]]:
    """Half-open sub-ranges of [start, end) covering every expected bar that is not stored.

    Consecutive missing bars coalesce even across nights, weekends and holidays (one Kite
    request can cover them); a fully stored range gives []. Each range runs from the first
    missing bar's start to the last missing bar's end.
    """
    exp = expected_bars(interval, start, end, now)
    missing = ~np.isin(exp.start, as_ms(stored))
    return [
        (from_ms(int(exp.start[a])), from_ms(int(exp.end[b])))
        for a, b in _runs(missing)
    ]


def report(
    stored: Any,
    interval: str | Interval,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> CoverageReport:
    """The completeness report for [start, end); None bounds default to the stored range."""
    iv = _interval(interval)
    ms = as_ms(stored)
    if start is None or end is None:
        if not len(ms):
            return CoverageReport(iv.name, None, None, 0, 0, 0, 0)
        start = start or from_ms(int(ms[0]))
        end = end or from_ms(int(ms[-1])) + iv.duration
    _check_range(start, end)
    ms = ms[(ms >= to_ms(start)) & (ms < to_ms(end))]
    exp = expected_bars(iv, start, end, now)
    have = np.isin(exp.start, ms)
    sessions = np.unique(exp.day)
    present_days = np.unique(exp.day[have])
    empty_days = np.setdiff1d(sessions, present_days, assume_unique=True)
    epoch = date(1970, 1, 1).toordinal()
    missing_dates = [date.fromordinal(int(d) + epoch).isoformat() for d in empty_days]
    # holes inside sessions that have some bars: runs of missing bars, split at session changes
    partial = ~have & np.isin(exp.day, present_days)
    new_day = np.concatenate(([True], exp.day[1:] != exp.day[:-1])) if len(exp.day) else None
    holes = [
        MissingRange(from_ms(int(exp.start[a])), from_ms(int(exp.end[b])), b - a + 1)
        for a, b in _runs(partial, new_day)
    ]
    n_expected = len(exp.start)
    return CoverageReport(
        interval=iv.name,
        first_ts=from_ms(int(ms[0])) if len(ms) else None,
        last_ts=from_ms(int(ms[-1])) if len(ms) else None,
        bars=len(ms),
        expected_bars=n_expected,
        sessions=len(sessions),
        missing_sessions=len(empty_days),
        missing_dates=missing_dates,
        missing=holes,
        completeness=float(have.sum() / n_expected) if n_expected else 1.0,
    )
