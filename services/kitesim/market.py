"""The live market: the price model read at the simulator's clock, plus test overrides.

Wraps PriceModel with what the ticker, quotes and the matcher need per second: cumulative
volume, VWAP, day OHLC so far, OI, and a synthetic 5-level book around the last price. Reads are
per (instrument, day, minute) blocks, cached. Admin price overrides (a paise offset from a sim
instant on) change only these live views, never historical candles.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from mandi.core.calendar import (
    LAST_YEAR,
    is_trading_day,
    previous_trading_day,
    session,
    session_open,
)
from mandi.core.clock import IST
from services.kitesim.pricepath import PriceModel, batch_seconds
from services.kitesim.universe import (
    HISTORY_START,
    Instrument,
    Universe,
    base_instruments,
    derivatives,
)


@dataclass
class Block:
    """One instrument, one session minute: arrays of 60 seconds plus day-level scalars."""

    price: np.ndarray
    qty: np.ndarray
    volume: np.ndarray  # cumulative day volume through each second
    avg: np.ndarray  # VWAP in paise
    high: np.ndarray  # day high so far
    low: np.ndarray
    oi: np.ndarray
    open: int
    prev_close: int
    oi_low: int
    epoch0: int  # epoch second of the minute's first second
    pv_end: int  # sum(price * qty) of the day through this minute


@dataclass(frozen=True)
class Where:
    day: date
    second: int  # 0..22499 within the session
    live: bool  # inside the session right now


class Market:
    def __init__(self, seed: int, ref_day: date, strikes_each_side: int | None = None,
                 weeklies: int | None = None) -> None:
        base = base_instruments()
        self.model = PriceModel(seed, {i.token: i for i in base if i.source == i.token})
        ref_day = min(max(ref_day, HISTORY_START + timedelta(days=7)), date(LAST_YEAR, 12, 1))
        spot_day = previous_trading_day(ref_day)
        kwargs = {k: v for k, v in (("strikes_each_side", strikes_each_side),
                                    ("weeklies", weeklies)) if v is not None}
        der = derivatives(
            ref_day,
            lambda tok: int(self.model.bars(self.model.sources[tok], spot_day).close[-1]),
            **kwargs,
        )
        self.universe = Universe(base + der)
        self.overrides: dict[int, tuple[float, int]] = {}
        self._blocks: OrderedDict[tuple[int, date, int], Block] = OrderedDict()
        self._max_blocks = 16384

    # --- time --------------------------------------------------------------------------------
    @staticmethod
    def locate(epoch: float) -> Where:
        """The session second showing at `epoch`: live, or the last second of the last session."""
        now = datetime.fromtimestamp(epoch, IST)
        day = now.date()
        s = session(day)
        if s is not None:
            minute = now.hour * 60 + now.minute
            m = s.minute_index(minute)
            if m is not None:
                return Where(day, m * 60 + now.second, True)
            before = s.minutes_before(minute)  # in a break or after the close
            if before:
                return Where(day, before * 60 - 1, False)
        prev = previous_trading_day(day)
        return Where(prev, session(prev).minutes * 60 - 1, False)

    # --- blocks ------------------------------------------------------------------------------
    def block(self, inst: Instrument, day: date, minute: int) -> Block:
        key = (inst.token, day, minute)
        blk = self._blocks.get(key)
        if blk is not None:
            self._blocks.move_to_end(key)
            return blk
        blk = self._build(inst, day, minute)
        self._blocks[key] = blk
        if len(self._blocks) > self._max_blocks:
            self._blocks.popitem(last=False)
        return blk

    def _build(self, inst: Instrument, day: date, m: int) -> Block:
        """A minute's block; day-so-far state comes from the previous minute's block when it is
        cached (streaming), else from the seconds [0, m) of the day (first read mid-day)."""
        pm = self.model
        prev = self._blocks.get((inst.token, day, m - 1)) if m else None
        lots_before = int(prev.volume[-1]) // max(inst.lot_size, 1) if prev is not None else None
        sec = pm.seconds(inst, day, m, m + 1, lots_before=lots_before)
        epoch0 = int(session(day).minute_start(m).timestamp())
        price = sec.price[0].copy()
        ov = self.overrides.get(inst.token)
        if ov is not None:
            shift = (epoch0 + np.arange(60)) >= ov[0]
            price = np.where(shift, np.maximum(price + ov[1], inst.tick), price)
        qty = sec.qty[0]
        if prev is not None:
            vol0, pv0 = int(prev.volume[-1]), prev.pv_end
            hi0, lo0, open_ = int(prev.high[-1]), int(prev.low[-1]), prev.open
            oi_low, prev_close = prev.oi_low, prev.prev_close
        else:
            prev_close = pm.prev_close(inst, day)
            if m:
                before = pm.seconds(inst, day, 0, m)
                vol0 = int(before.qty.sum())
                pv0 = int((before.price * before.qty).sum())
                hi0, lo0 = int(before.price.max()), int(before.price.min())
                open_, oi_low = int(before.price[0, 0]), int(before.oi[0, 0])
            else:
                vol0 = pv0 = 0
                hi0 = lo0 = open_ = int(price[0])
                oi_low = int(sec.oi[0, 0])
        vol = vol0 + np.cumsum(qty)
        pv = pv0 + np.cumsum(price * qty)
        avg = np.where(vol > 0, np.rint(pv / np.maximum(vol, 1)), price).astype(np.int64)
        return Block(price, qty, vol, avg, np.maximum.accumulate(np.maximum(price, hi0)),
                     np.minimum.accumulate(np.minimum(price, lo0)), sec.oi[0], open_,
                     prev_close, oi_low, epoch0, int(pv[-1]))

    def set_override(self, inst: Instrument, from_epoch: float, delta_paise: int) -> None:
        self.overrides[inst.token] = (from_epoch, delta_paise)
        for key in [k for k in self._blocks if k[0] == inst.token]:
            del self._blocks[key]

    def clear_overrides(self) -> None:
        tokens = set(self.overrides)
        self.overrides.clear()
        for key in [k for k in self._blocks if k[0] in tokens]:
            del self._blocks[key]

    # --- point reads -------------------------------------------------------------------------
    def snapshot(self, inst: Instrument, epoch: float) -> dict:
        """Everything a quote needs at `epoch`, money in paise."""
        where = self.locate(epoch)
        m, k = divmod(where.second, 60)
        b = self.block(inst, where.day, m)
        price = int(b.price[k])
        return {
            "last_price": price, "last_quantity": int(b.qty[k]), "volume": int(b.volume[k]),
            "average_price": int(b.avg[k]), "open": b.open, "high": int(b.high[k]),
            "low": int(b.low[k]), "close": b.prev_close, "oi": int(b.oi[k]),
            "oi_day_high": int(b.oi[k]), "oi_day_low": b.oi_low,
            "last_trade_time": b.epoch0 + k,
            "depth": book(price, inst.tick, max(inst.lot_size, 1), k),
            "buy_quantity": _side_qty(price, inst, 7), "sell_quantity": _side_qty(price, inst, 11),
            "live": where.live,
        }

    def ltp(self, inst: Instrument, epoch: float) -> int:
        where = self.locate(epoch)
        m, k = divmod(where.second, 60)
        return int(self.block(inst, where.day, m).price[k])

    def circuit(self, inst: Instrument, epoch: float) -> tuple[int, int]:
        """(lower, upper) price band in paise, closer to the exchanges' than a flat ±20 %:
        equities ±`band_pct` (2/5/10/20; 10 for F&O stocks) of the previous close; futures the
        F&O operating range (±10 %) of the previous close; options an LPP-like band around the
        last price (±40 %, or ±₹20 at or below ₹50), which moves with the premium intraday as
        the exchange's option bands do. Indices ±20 % (not tradable; shown in quotes)."""
        tick = inst.tick
        if inst.kind == "OPT":
            ref = self.ltp(inst, epoch)
            if ref <= 5000:
                return max(tick, (ref - 2000) // tick * tick), -(-(ref + 2000) // tick) * tick
            lo_raw, hi_raw = ref * 60 // 100, -(-ref * 140 // 100)
        else:
            ref = self.model.prev_close(inst, self.trading_day(epoch)) or self.ltp(inst, epoch)
            pct = inst.band_pct or 20
            lo_raw, hi_raw = ref * (100 - pct) // 100, -(-ref * (100 + pct) // 100)
        return max(tick, lo_raw // tick * tick), -(-hi_raw // tick) * tick

    def trading_day(self, epoch: float) -> date:
        """The session a band refers to: today's before and during the session (pre-open and
        released AMOs included), else the last one's."""
        now = datetime.fromtimestamp(epoch, IST)
        if is_trading_day(now.date()) and epoch < session_open(now.date()).timestamp():
            return now.date()
        return self.locate(epoch).day

def book(price: int, tick: int, lot: int, k: int) -> list[tuple[int, int, int]]:
    """Synthetic depth: bids one tick apart below the trade price, asks from it up."""
    out = []
    for i in range(10):
        p = price - tick * (i + 1) if i < 5 else price + tick * (i - 5)
        q = lot * (1 + (price // tick * (i + 3) + 7 * k) % 97)
        out.append((q, max(p, 0), 1 + q // lot % 9))
    return out


def _side_qty(price: int, inst: Instrument, salt: int) -> int:
    return inst.lot_size * (1000 + (price // inst.tick * salt) % 4999)


@dataclass
class MinuteBatch:
    """One minute of many instruments, arrays (n, 60), plus per-instrument day-level values."""

    tokens: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    volume: np.ndarray
    avg: np.ndarray
    high: np.ndarray
    low: np.ndarray
    oi: np.ndarray
    open: np.ndarray
    prev_close: np.ndarray
    oi_low: np.ndarray
    pv_end: np.ndarray
    epoch0: int


def minute_batch(market: Market, insts: list[Instrument], day: date, m: int,
                 carry: MinuteBatch | None) -> MinuteBatch:
    """The ticker's view of minute `m`; day-so-far state from `carry` (the same instruments'
    minute m-1) when given, else computed from the day's seconds before m."""
    pm = market.model
    n = len(insts)
    tokens = np.array([i.token for i in insts], dtype=np.int64)
    lot = np.array([max(i.lot_size, 1) for i in insts], dtype=np.int64)
    use_carry = carry is not None and np.array_equal(carry.tokens, tokens)
    if use_carry:
        assert carry is not None
        lots_before = carry.volume[:, -1] // lot
        vol0, pv0 = carry.volume[:, -1], carry.pv_end
        hi0, lo0 = carry.high[:, -1], carry.low[:, -1]
        open_, oi_low, prev_close = carry.open, carry.oi_low, carry.prev_close
    else:
        lots_before = None
        if m:
            before = batch_seconds(pm, insts, day, 0, m)
            bp, bq = before.price.reshape(n, -1), before.qty.reshape(n, -1)
            vol0, pv0 = bq.sum(axis=1), (bp * bq).sum(axis=1)
            hi0, lo0, open_ = bp.max(axis=1), bp.min(axis=1), bp[:, 0]
            oi_low = before.oi.reshape(n, -1)[:, 0]
        prev_close = _prev_closes(pm, insts, day)
    sec = batch_seconds(pm, insts, day, m, m + 1, lots_before=lots_before)
    price, qty, oi = sec.price[:, 0], sec.qty[:, 0], sec.oi[:, 0]
    epoch0 = int(session(day).minute_start(m).timestamp())
    if market.overrides:
        price = price.copy()
        for j, inst in enumerate(insts):
            ov = market.overrides.get(inst.token)
            if ov is not None:
                shift = (epoch0 + np.arange(60)) >= ov[0]
                price[j] = np.where(shift, np.maximum(price[j] + ov[1], inst.tick), price[j])
    if not use_carry and not m:
        vol0 = pv0 = np.zeros(n, dtype=np.int64)
        hi0 = lo0 = open_ = price[:, 0]
        oi_low = oi[:, 0]
    vol = vol0[:, None] + np.cumsum(qty, axis=1)
    pv = pv0[:, None] + np.cumsum(price * qty, axis=1)
    avg = np.where(vol > 0, np.rint(pv / np.maximum(vol, 1)), price).astype(np.int64)
    high = np.maximum.accumulate(np.maximum(price, hi0[:, None]), axis=1)
    low = np.minimum.accumulate(np.minimum(price, lo0[:, None]), axis=1)
    return MinuteBatch(tokens, price, qty, vol, avg, high, low, oi, np.asarray(open_),
                       prev_close, np.asarray(oi_low), pv[:, -1], epoch0)


def _prev_closes(pm, insts: list[Instrument], day: date) -> np.ndarray:
    i = pm.days.index(day) if pm.is_day(day) else 0
    if i == 0:
        return np.zeros(len(insts), dtype=np.int64)
    n_min = pm.minutes(pm.days[i - 1])
    last = batch_seconds(pm, insts, pm.days[i - 1], n_min - 1, n_min, price_only=True)
    return last.price[:, 0, -1]
