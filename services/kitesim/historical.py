"""`/instruments/historical/{token}/{interval}`: candles aggregated from the price path.

Rules (as Kite serves them):
* sessions follow `mandi.core.calendar`, special sessions included (Muhurat, weekend and DR
  sessions with their own hours); intraday candles are on a grid from the start of each span of
  the session (09:15 IST on a normal day), stamped with their start, the last candle of a span
  cut short at its end (15:15–15:30 for 60 minutes); day candles are stamped 00:00 IST;
* the still-forming candle is served, as real Kite does: during a session the candle holding
  the simulator clock carries the open, high, low, last price and volume of the seconds so far
  (the second showing now included, the one a quote reports); the day candle of a session in
  progress likewise. Complete candles equal those built from ticks;
* a range wider than Kite's per-interval maximum gets Kite's InputException;
* options and futures have data from their listing day to their expiry, unless `continuous=1`
  (futures only), which serves the underlying-driven path for the whole history.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np

from mandi.core.calendar import Session, iter_trading_days, session
from mandi.core.clock import IST
from mandi.core.intervals import INTERVALS
from services.kitesim.envelope import InputException
from services.kitesim.pricepath import PriceModel
from services.kitesim.universe import HISTORY_START, Instrument

_LABELS: dict[int, str] = {}


def parse_when(value: str | None, name: str, end_of_day: bool = False) -> datetime:
    """`YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD` (IST); a bare `to` date means the whole day."""
    if not value:
        raise InputException(f"`{name}` is missing or invalid.")
    text = value.strip().replace("T", " ")
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            t = datetime(d.year, d.month, d.day, 23, 59, 59) if end_of_day else \
                datetime(d.year, d.month, d.day)
        else:
            t = datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise InputException(f"Invalid `{name}` date: {value}") from None
    return t.replace(tzinfo=IST)


def _label(minute_of_day: int) -> str:
    text = _LABELS.get(minute_of_day)
    if text is None:
        text = _LABELS[minute_of_day] = f"T{minute_of_day // 60:02d}:{minute_of_day % 60:02d}" \
                                        ":00+0530"
    return text


def candles(model: PriceModel, inst: Instrument, interval: str, frm: datetime, to: datetime,
            now: datetime, with_oi: bool = False, continuous: bool = False) -> list[list]:
    spec = INTERVALS.get(interval)
    if spec is None:
        raise InputException("invalid interval")
    if to < frm:
        raise InputException("`from` date should be before `to` date.")
    if to - frm > timedelta(days=spec.max_days):
        raise InputException(f"interval exceeds max limit: {spec.max_days} days")
    first = max(frm.date(), HISTORY_START)
    last = min(to.date(), now.astimezone(IST).date())
    if inst.expiry is not None and not (continuous and inst.kind == "FUT"):
        first, last = max(first, inst.listed), min(last, inst.expiry)
    out: list[list] = []
    for day in iter_trading_days(first, last):
        sess = session(day)
        if sess is None or not model.is_day(day) or sess.open > now:
            continue
        if spec.minutes == 0:
            out.append(_day_candle(model, inst, sess, now, with_oi))
            continue
        out.extend(_intraday(model, inst, sess, spec.minutes, frm, to, now, with_oi))
    return out


def _elapsed(sess: Session, now: datetime) -> tuple[int, int]:
    """(whole session minutes before now, seconds 0..59 of the minute showing now, or -1 when
    now is outside the session — in a break or after the close)."""
    local = now.astimezone(IST)
    if local.date() != sess.day:
        return sess.minutes, -1
    minute = local.hour * 60 + local.minute
    idx = sess.minute_index(minute)
    if idx is None:
        return sess.minutes_before(minute), -1
    return idx, local.second


def _partial(model: PriceModel, inst: Instrument, day: date, m0: int, m: int,
             k: int) -> tuple[int, int, int, int, int, int]:
    """(open, high, low, close, volume, oi) in paise/units of session minutes [m0, m) plus the
    seconds 0..k of minute m (k = -1: none)."""
    b = model.bars(inst, day)
    parts_p: list[np.ndarray] = []
    vol = int(b.volume[m0:m].sum())
    oi = int(b.oi[m - 1]) if m > m0 else 0
    if m > m0:
        parts_p += [b.open[m0:m], b.high[m0:m], b.low[m0:m], b.close[m0:m]]
    if k >= 0:
        sec = model.seconds(inst, day, m, m + 1)
        p = sec.price[0, :k + 1]
        parts_p.append(p)
        vol += int(sec.qty[0, :k + 1].sum())
        oi = int(sec.oi[0, k])
    o = int(b.open[m0]) if m > m0 else int(parts_p[-1][0])
    c = int(parts_p[-1][-1]) if k >= 0 else int(b.close[m - 1])
    hi = max(int(a.max()) for a in parts_p)
    lo = min(int(a.min()) for a in parts_p)
    return o, hi, lo, c, vol, oi


def _day_candle(model: PriceModel, inst: Instrument, sess: Session, now: datetime,
                with_oi: bool) -> list:
    m, k = _elapsed(sess, now)
    if m >= sess.minutes:
        b = model.bars(inst, sess.day)
        o, hi, lo, c = int(b.open[0]), int(b.high.max()), int(b.low.min()), int(b.close[-1])
        v, oi = int(b.volume.sum()), int(b.oi[-1])
    else:  # the day's candle is still forming
        o, hi, lo, c, v, oi = _partial(model, inst, sess.day, 0, m, k)
    row = [f"{sess.day.isoformat()}T00:00:00+0530", o / 100, hi / 100, lo / 100, c / 100, v]
    if with_oi:
        row.append(oi)
    return row


def _intraday(model: PriceModel, inst: Instrument, sess: Session, step: int, frm: datetime,
              to: datetime, now: datetime, with_oi: bool) -> list[list]:
    day = sess.day
    grid = sess.bars(step)
    bar_min = np.array([s for s, _ in grid], dtype=np.int64)
    length = np.array([e - s for s, e in grid], dtype=np.int64)
    starts = np.array([sess.minute_index(s) for s, _ in grid], dtype=np.int64)
    ends = starts + length
    midnight = datetime.combine(day, datetime.min.time(), IST).timestamp()
    start_ts = midnight + 60.0 * bar_min
    m_now, k_now = _elapsed(sess, now)
    done = ends <= m_now
    forming = (starts <= m_now) & (ends > m_now) & ((k_now >= 0) | (starts < m_now))
    keep = ((start_ts >= frm.timestamp()) & (start_ts <= to.timestamp()) & (done | forming))
    if not keep.any():
        return []
    b = model.bars(inst, day)
    o = (b.open[starts] / 100).tolist()
    h = (np.maximum.reduceat(b.high, starts) / 100).tolist()
    lo = (np.minimum.reduceat(b.low, starts) / 100).tolist()
    c = (b.close[ends - 1] / 100).tolist()
    v = np.add.reduceat(b.volume, starts).tolist()
    oi = b.oi[ends - 1].tolist()
    stamp = day.isoformat()
    rows = []
    for i in np.flatnonzero(keep).tolist():
        if forming[i]:
            po, ph, pl, pc, v[i], oi[i] = _partial(model, inst, day, int(starts[i]), m_now,
                                                   k_now)
            o[i], h[i], lo[i], c[i] = po / 100, ph / 100, pl / 100, pc / 100
        row = [stamp + _label(int(bar_min[i])), o[i], h[i], lo[i], c[i], v[i]]
        if with_oi:
            row.append(oi[i])
        rows.append(row)
    return rows
