"""`/instruments/historical/{token}/{interval}`: candles aggregated from the price path.

Rules:
* intraday candles are aligned to the session start (09:15 IST) and stamped with their start;
  the last 60-minute candle of a day covers 15:15–15:30; day candles are stamped 00:00 IST;
* a candle is served only once it is complete by the simulator clock (end ≤ sim now), so the
  current, still-forming candle is never returned — this is what makes tick-built candles and
  historical candles comparable;
* a range wider than Kite's per-interval maximum gets Kite's InputException;
* options and futures have data from their listing day to their expiry, unless `continuous=1`
  (futures only), which serves the underlying-driven path for the whole history.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np

from mandi.core.calendar import SESSION_MINUTES, iter_trading_days, session_close, session_open
from mandi.core.clock import IST
from mandi.core.intervals import INTERVALS
from services.kitesim.envelope import InputException
from services.kitesim.pricepath import PriceModel
from services.kitesim.universe import HISTORY_START, Instrument

_LABELS: dict[int, list[str]] = {}


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


def _labels(step: int) -> list[str]:
    if step not in _LABELS:
        base = datetime(2000, 1, 1, 9, 15)
        _LABELS[step] = [(base + timedelta(minutes=i)).strftime("T%H:%M:00+0530")
                         for i in range(0, SESSION_MINUTES, step)]
    return _LABELS[step]


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
        if not model.is_day(day) or session_open(day) > now:
            continue
        if spec.minutes == 0:
            if session_close(day) <= now:
                out.append(_day_candle(model, inst, day, with_oi))
            continue
        out.extend(_intraday(model, inst, day, spec.minutes, frm, to, now, with_oi))
    return out


def _day_candle(model: PriceModel, inst: Instrument, day: date, with_oi: bool) -> list:
    b = model.bars(inst, day)
    row = [f"{day.isoformat()}T00:00:00+0530", int(b.open[0]) / 100, int(b.high.max()) / 100,
           int(b.low.min()) / 100, int(b.close[-1]) / 100, int(b.volume.sum())]
    if with_oi:
        row.append(int(b.oi[-1]))
    return row


def _intraday(model: PriceModel, inst: Instrument, day: date, step: int, frm: datetime,
              to: datetime, now: datetime, with_oi: bool) -> list[list]:
    b = model.bars(inst, day)
    starts = np.arange(0, SESSION_MINUTES, step)
    ends = np.minimum(starts + step, SESSION_MINUTES)
    open_s = session_open(day).timestamp()
    start_ts = open_s + 60.0 * starts
    keep = ((start_ts >= frm.timestamp()) & (start_ts <= to.timestamp())
            & (open_s + 60.0 * ends <= now.timestamp()))
    if not keep.any():
        return []
    o = (b.open[starts] / 100).tolist()
    h = (np.maximum.reduceat(b.high, starts) / 100).tolist()
    lo = (np.minimum.reduceat(b.low, starts) / 100).tolist()
    c = (b.close[ends - 1] / 100).tolist()
    v = np.add.reduceat(b.volume, starts).tolist()
    oi = b.oi[ends - 1].tolist()
    stamp = day.isoformat()
    labels = _labels(step)
    rows = []
    for i in np.flatnonzero(keep).tolist():
        row = [stamp + labels[i], o[i], h[i], lo[i], c[i], v[i]]
        if with_oi:
            row.append(oi[i])
        rows.append(row)
    return rows
