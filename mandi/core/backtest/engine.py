"""The event-driven backtester: strategies see one bar at a time, exactly as they do live.

Per bar of a symbol, in this order (the fast path repeats it step for step):

1. MIS only: if the session changed while legs are open (data ended before the cut-off), they
   are squared off at the previous bar's close.
2. Orders the strategy placed on the previous bar fill at this bar's open (`fill_on="next_open"`,
   the default). Entries are refused after the MIS cut-off.
3. MIS only: at the first bar starting at or after the day's MIS cut-off, open legs are squared
   off at open. The cut-off comes from the calendar per session and exchange (15:20 IST equity,
   15:25 F&O; a Muhurat or DR session's own), unless `squareoff_ist` fixes one time.
4. Protective stops and targets are checked against this bar (`fills.exit_on_bar`: gaps fill at
   the open; a bar touching both is read as hitting the stop first).
5. The bar's close marks the book; the strategy's `on_bar` runs; with `fill_on="close"` its
   orders fill at this close, otherwise they wait for the next bar.

Market fills move against the trader by the slippage; every fill pays the charges of the dated
table for its IST trade date. Under CNC (segment equity_delivery) a leg closed on the day it
opened is charged as intraday on both fills (Zerodha's rule: the entry's delivery charges are
replaced at the exit), a leg closed on a later day pays delivery rates plus the DP charge once per
symbol and day, and short entries are refused (a CNC sell needs holdings: retail cannot carry a
short overnight; short under MIS instead). Several symbols share one cash pool; bars are
processed in time order (symbol order within a timestamp) and equity is recorded once per
timestamp.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Literal

import numpy as np

from mandi.core.backtest.data import DAY_NS, IST_OFFSET_NS, Bars, price_paise
from mandi.core.backtest.portfolio import Book, Trade
from mandi.core.backtest.sizing import ATR_RISK, FixedQty, Sizer, size_qty
from mandi.core.calendar import FNO_EXCHANGES, session
from mandi.core.charges import (
    DP_CHARGE_PAISE,
    Segment,
    Side,
    parse_segment,
    revision_on,
)
from mandi.core.charges_int import fill_charges_int, rate_vector
from mandi.core.errors import InvalidInput
from mandi.core.fills import BarPrices, Slippage, exit_on_bar, pct_level
from mandi.core.indicators import atr as atr_batch
from mandi.core.strategies.base import BarView, Context, Enter, Exit, Fill, Leg, SetStop, Strategy


@dataclass(frozen=True)
class BacktestConfig:
    segment: Segment | str = Segment.EQUITY_INTRADAY
    exchange: str = "NSE"
    initial_capital_paise: int = 100_000_000  # ₹10 lakh
    fill_on: Literal["next_open", "close"] = "next_open"
    slippage: Slippage = field(default_factory=Slippage)
    sizer: Sizer = field(default_factory=lambda: FixedQty(1))
    lot_size: int = 1
    tick_paise: int = 5
    mis: bool | None = None  # intraday square-off; default: True for equity_intraday
    squareoff_ist: time | None = None  # None: the calendar's cut-off of each session
    close_at_end: bool = True
    margin_rate: float = 1.0  # fraction of notional blocked to open a leg
    charges: bool = True
    vectorised_indicators: bool = True  # call Strategy.prepare(bars)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segment", parse_segment(self.segment))
        if self.fill_on not in ("next_open", "close"):
            raise InvalidInput("fill_on must be 'next_open' or 'close'", field="fill_on")
        if not isinstance(self.initial_capital_paise, int) or self.initial_capital_paise <= 0:
            raise InvalidInput("initial capital must be positive paise",
                               field="initial_capital_paise")
        if not isinstance(self.lot_size, int) or self.lot_size < 1:
            raise InvalidInput("lot size must be a positive integer", field="lot_size")
        if not 0 < self.margin_rate <= 10:
            raise InvalidInput("margin rate must be in (0, 10]", field="margin_rate")
        if self.mis is None:
            object.__setattr__(self, "mis", self.segment is Segment.EQUITY_INTRADAY)

    @property
    def margin_bps(self) -> int:
        return round(self.margin_rate * 10_000)


@dataclass
class BacktestResult:
    config: BacktestConfig
    ts: np.ndarray  # one row per distinct timestamp
    equity_paise: np.ndarray
    trades: list[Trade]
    fills: int
    rejected: int
    charges_paid_paise: int
    turnover_paise: int
    bars: int

    @property
    def final_equity_paise(self) -> int:
        return int(self.equity_paise[-1]) if len(self.equity_paise) else \
            self.config.initial_capital_paise


def _cutoff_minute(day: int, cfg: BacktestConfig) -> int:
    """The MIS cut-off (minute of the IST day) of IST day `day` (days since the epoch): the
    calendar's for the session and exchange (F&O segments use NFO's)."""
    fno = cfg.segment in (Segment.FUTURES, Segment.OPTIONS)
    exchange = "NFO" if fno else cfg.exchange
    sess = session(date(1970, 1, 1) + timedelta(days=day))
    if sess is not None:
        return sess.mis_cutoff_minute(exchange)
    return (15 * 60 + 25) if fno or exchange.upper() in FNO_EXCHANGES else 15 * 60 + 20


def cutoff_mask(ts: np.ndarray, cfg: BacktestConfig) -> np.ndarray:
    """True for bars starting at or after the MIS cut-off of their IST day: the calendar's for
    the session and exchange (F&O segments use NFO's), or `cfg.squareoff_ist` when set. One
    calendar lookup per distinct day."""
    local = ts + IST_OFFSET_NS
    minute = (local % DAY_NS) // (60 * 10**9)
    at = cfg.squareoff_ist
    if at is not None:
        return minute >= at.hour * 60 + at.minute
    day = local // DAY_NS  # non-decreasing: bar times are strictly increasing
    first = np.flatnonzero(np.r_[True, day[1:] != day[:-1]]) if len(day) else day
    cut = np.array([_cutoff_minute(d, cfg) for d in day[first].tolist()], dtype=np.int64)
    return minute >= np.repeat(cut, np.diff(np.r_[first, len(day)]))


def at_cutoff(ts_ns: int, cfg: BacktestConfig) -> bool:
    """`cutoff_mask` of one bar start (a bot's bar, one at a time: no arrays)."""
    local = ts_ns + IST_OFFSET_NS
    minute = (local % DAY_NS) // (60 * 10**9)
    at = cfg.squareoff_ist
    if at is not None:
        return minute >= at.hour * 60 + at.minute
    return minute >= _cutoff_minute(local // DAY_NS, cfg)


class _Feed:
    """Per-symbol state: the strategy, its context, the bar columns.

    Paise prices stay numpy arrays (read only at fills); the bar view reads Python lists only
    when the strategy streams its indicators from the bars every bar.
    """

    def __init__(self, k: int, symbol: str, bars: Bars, strategy: Strategy,
                 cfg: BacktestConfig, prepared: bool):
        self.k = k
        self.symbol = symbol
        self.strategy = strategy
        self.on_bar = strategy.on_bar
        # Fill objects are built only for strategies that listen to fills
        self.wants_fills = type(strategy).on_fill is not Strategy.on_fill
        self.ctx = Context(symbol)
        self.n = len(bars)
        self.ts = bars.ts
        cols = (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume)
        if not prepared:
            cols = tuple(c.tolist() for c in cols)
        self.view = BarView(symbol, *cols)
        self.op = price_paise(bars.open)
        self.hp = price_paise(bars.high)
        self.lp = price_paise(bars.low)
        self.cp = price_paise(bars.close)
        self.sess = (bars.ts + IST_OFFSET_NS) // DAY_NS
        self.cutoff = cutoff_mask(bars.ts, cfg).tolist() if cfg.mis else None
        sizer = cfg.sizer
        self.atr = (atr_batch(bars.high, bars.low, bars.close, sizer.atr_period)
                    if sizer.kind == ATR_RISK else None)
        self.pending: list = []
        self.brackets = False  # some open leg has a stop or a target
        self.step_of_bar: list[int] | None = None  # set for multi-symbol runs


class Backtester:
    def __init__(self, config: BacktestConfig | None = None) -> None:
        self.cfg = config or BacktestConfig()
        kind, p_int, p_float, _ = self.cfg.sizer.as_params()
        self._sizing = (kind, p_int, p_float)
        # (segment, IST day) → rate vector of the revision in force
        self._rates: dict[tuple[Segment, int], np.ndarray] = {}
        self._by_revision: dict[tuple[Segment, date], np.ndarray] = {}
        self._cnc = self.cfg.segment is Segment.EQUITY_DELIVERY
        self._dp_days: set[tuple[int, int]] = set()  # (feed, IST day) that paid the DP charge
        sl = self.cfg.slippage
        self._no_slip = sl.bps == 0 and sl.ticks == 0

    # --- public entry point ---------------------------------------------------------------
    def run(self, data: Mapping[str, Bars] | Bars,
            strategy: Strategy | Callable[[str], Strategy], trade_from: int = 0) -> BacktestResult:
        """Run `strategy` (an instance for one symbol, or a factory symbol → instance).

        Bars before index `trade_from` (of each symbol) only warm the strategy up: entries it
        orders there are dropped.
        """
        self._trade_from = trade_from
        if isinstance(data, Bars):
            data = {data.symbol or "SYM": data}
        if not data:
            raise InvalidInput("no bars to backtest", field="bars")
        cfg = self.cfg
        self.book = book = Book(cfg.initial_capital_paise, cfg.margin_bps)
        self.feeds = feeds = []
        for k, sym in enumerate(sorted(data)):
            strat = strategy if isinstance(strategy, Strategy) else strategy(sym)
            if len(data) > 1 and strat is strategy:
                raise InvalidInput("several symbols need a strategy factory", field="strategy")
            strat.on_start(sym)
            prepared = strat.prepare(data[sym] if cfg.vectorised_indicators else None)
            feeds.append(_Feed(k, sym, data[sym], strat, cfg, bool(prepared)))
        # fill events (step, cash after, feed, net after) rebuild the equity curve afterwards
        self._events: list[tuple[int, int, int, int]] = []
        self._end_step: int | None = None
        gc_was_on = gc.isenabled()
        gc.disable()  # the loop makes no reference cycles; collections only cost time
        try:
            sym_of_step, bar_of_step = self._loop(feeds)
        finally:
            if gc_was_on:
                gc.enable()
        if cfg.close_at_end:
            self._end_step = len(sym_of_step) - 1
            for f in feeds:
                if f.ctx.legs:
                    i = f.n - 1
                    for tag in list(f.ctx.legs):
                        self._close(f, tag, self._slip(int(f.cp[i]), not f.ctx.legs[tag].is_long),
                                    i, "end")
        ts, equity = self._equity_curve(sym_of_step, bar_of_step)
        return BacktestResult(cfg, ts, equity, book.trades, book.fills, book.rejected,
                              book.charges_paid, book.turnover, sum(f.n for f in feeds))

    def _loop(self, feeds: list[_Feed]) -> tuple[np.ndarray, np.ndarray]:
        """Every bar of every feed in time order; returns (feed, bar index) of each step."""
        if len(feeds) == 1:
            f = feeds[0]
            step = self._stepper(f)
            for i in range(f.n):
                step(i)
            return np.zeros(f.n, dtype=np.int64), np.arange(f.n)
        sym_idx = np.concatenate([np.full(f.n, f.k) for f in feeds])
        bar_idx = np.concatenate([np.arange(f.n) for f in feeds])
        order = np.lexsort((sym_idx, np.concatenate([f.ts for f in feeds])))
        sym_of_step, bar_of_step = sym_idx[order], bar_idx[order]
        for f in feeds:  # global step of each of the feed's bars, for the fill events
            f.step_of_bar = np.nonzero(sym_of_step == f.k)[0].tolist()
        steps = [self._stepper(f) for f in feeds]
        for k, i in zip(sym_of_step.tolist(), bar_of_step.tolist(), strict=True):
            steps[k](i)
        return sym_of_step, bar_of_step

    def _equity_curve(self, sym_of_step: np.ndarray, bar_of_step: np.ndarray):
        """Equity after each timestamp = cash + Σ net quantity × close, from the fill events."""
        feeds, n = self.feeds, len(sym_of_step)
        ev = np.asarray(self._events, dtype=np.int64).reshape(-1, 4)
        cash = np.full(n, self.cfg.initial_capital_paise, dtype=np.int64)
        if len(ev):
            # the last event of a step wins: forward-fill cash from event steps
            last = np.r_[ev[1:, 0] != ev[:-1, 0], True]
            idx = np.full(n, -1)
            idx[ev[last, 0]] = np.nonzero(last)[0]
            idx = np.maximum.accumulate(idx)
            cash = np.where(idx >= 0, ev[np.maximum(idx, 0), 1], cash)
        equity = cash.copy()
        for f in feeds:
            mine = sym_of_step == f.k
            close = np.zeros(n, dtype=np.int64)
            close[mine] = f.cp[bar_of_step[mine]]
            has = np.maximum.accumulate(np.where(mine, np.arange(n), -1))
            close = close[np.maximum(has, 0)]
            net = np.zeros(n, dtype=np.int64)
            fe = ev[ev[:, 2] == f.k] if len(ev) else ev
            if len(fe):
                last = np.r_[fe[1:, 0] != fe[:-1, 0], True]
                idx = np.full(n, -1)
                idx[fe[last, 0]] = np.nonzero(last)[0]
                idx = np.maximum.accumulate(idx)
                net = np.where(idx >= 0, fe[np.maximum(idx, 0), 3], 0)
            equity += net * close
        all_ts = np.empty(n, dtype=np.int64)
        for f in feeds:
            mine = sym_of_step == f.k
            all_ts[mine] = f.ts[bar_of_step[mine]]
        keep = np.r_[all_ts[1:] != all_ts[:-1], True] if n else np.zeros(0, dtype=bool)
        return all_ts[keep], equity[keep]

    # --- one bar ----------------------------------------------------------------------------
    def _stepper(self, f: _Feed) -> Callable[[int], None]:
        """The per-bar step for one feed, as a closure over its state (the hot loop: locals are
        cheaper than attribute lookups). Steps are numbered as in the module docstring."""
        ctx, view, on_bar, cutoff, sess = f.ctx, f.view, f.on_bar, f.cutoff, f.sess
        op, cp = f.op, f.cp
        execute, close_all, protect = self._execute, self._close_all, self._protect
        fill_close = self.cfg.fill_on == "close"
        trade_from = self._trade_from

        def step(i: int) -> None:
            cut = False
            if cutoff is not None:
                cut = cutoff[i]
                if ctx.legs and i > 0 and sess[i] != sess[i - 1]:  # 1
                    close_all(f, int(cp[i - 1]), i - 1, "squareoff")
            if f.pending:  # 2
                intents, f.pending = f.pending, []
                execute(f, i, intents, int(op[i]), cut, i - 1)
            if ctx.legs:
                if cut:  # 3
                    close_all(f, int(op[i]), i, "squareoff")
                elif f.brackets:  # 4
                    protect(f, i)
            view.index = i  # 5
            on_bar(view, ctx)
            if ctx.intents:
                intents, ctx.intents = ctx.intents, []
                if i < trade_from:
                    intents = [it for it in intents if type(it) is not Enter]
                if fill_close:
                    execute(f, i, intents, int(cp[i]), cut, i)
                else:
                    f.pending = intents

        return step

    def _protect(self, f: _Feed, i: int) -> None:
        bar = BarPrices(int(f.op[i]), int(f.hp[i]), int(f.lp[i]), int(f.cp[i]))
        for tag, leg in list(f.ctx.legs.items()):
            if leg.stop_paise is None and leg.target_paise is None:
                continue
            hit = exit_on_bar(leg.is_long, leg.stop_paise, leg.target_paise, bar,
                              self.cfg.slippage)
            if hit is not None:
                self._close(f, tag, hit[0], i, hit[1])

    # --- order execution --------------------------------------------------------------------
    def _slip(self, price: int, is_buy: bool) -> int:
        if self._no_slip:
            return price
        return self.cfg.slippage.apply(price, Side.BUY if is_buy else Side.SELL)

    def _fee(self, f: _Feed, i: int, is_buy: bool, qty: int, price: int,
             segment: Segment | None = None, sess: int | None = None) -> int:
        if not self.cfg.charges:
            return 0
        seg = segment or self.cfg.segment
        sess = int(f.sess[i]) if sess is None else sess
        rv = self._rates.get((seg, sess))
        if rv is None:  # first fill of this IST day: find its revision of the table
            rev = revision_on(date(1970, 1, 1) + timedelta(days=sess))
            rv = self._by_revision.get((seg, rev.effective))
            if rv is None:
                rv = self._by_revision[seg, rev.effective] = rate_vector(
                    seg, rev.effective, self.cfg.exchange)
            self._rates[seg, sess] = rv
        return int(fill_charges_int(rv, is_buy, qty, price))

    def _cnc_exit_fees(self, f: _Feed, i: int, leg: Leg, px: int) -> tuple[int, int]:
        """(exit charges, entry charges as re-priced) of closing a CNC leg at bar i."""
        entry_sess = (leg.entry_ts + IST_OFFSET_NS) // DAY_NS
        if entry_sess == f.sess[i]:  # bought and sold the same day: intraday for both fills
            intra = Segment.EQUITY_INTRADAY
            return (self._fee(f, i, False, leg.qty, px, intra),
                    self._fee(f, i, True, leg.qty, leg.entry_price_paise, intra, entry_sess))
        fee = self._fee(f, i, False, leg.qty, px)
        day = (f.k, int(f.sess[i]))
        if self.cfg.charges and day not in self._dp_days:  # ₹13 + 18 % GST, once a scrip-day
            self._dp_days.add(day)
            fee += DP_CHARGE_PAISE + DP_CHARGE_PAISE * 18 // 100
        return fee, leg.entry_charges_paise

    def equity_now(self) -> int:
        """Cash plus open positions at their last seen close: the equity so far, for a
        caller on the engine's thread between bars (a running job's partial results)."""
        return self._equity_now()

    def _equity_now(self) -> int:
        eq = self.book.cash
        for f in self.feeds:
            if f.ctx.position:
                # the view sits on the last bar whose close has been seen (-1: none yet)
                j = f.view.index
                mark = int(f.cp[j]) if j >= 0 else int(f.op[0])
                eq += f.ctx.position * mark
        return eq

    def _execute(self, f: _Feed, i: int, intents: list, ref: int, cutoff: bool,
                 signal_i: int) -> None:
        ctx = f.ctx
        for it in intents:
            kind = type(it)
            if kind is Exit:
                tags = [it.tag] if it.tag is not None else list(ctx.legs)
                for tag in tags:
                    leg = ctx.legs.get(tag)
                    if leg is not None:
                        self._close(f, tag, self._slip(ref, not leg.is_long), i, it.reason)
            elif kind is Enter:
                if not cutoff and it.tag not in ctx.legs:
                    self._open(f, i, it, ref, signal_i)
            elif kind is SetStop:
                leg = ctx.legs.get(it.tag)
                if leg is not None:
                    leg.stop_paise = it.stop_paise
                    f.brackets = True

    def _record(self, f: _Feed, i: int) -> None:
        if self._end_step is not None:
            g = self._end_step
        else:
            g = i if f.step_of_bar is None else f.step_of_bar[i]
        self._events.append((g, self.book.cash, f.k, f.ctx.position))

    def _open(self, f: _Feed, i: int, it: Enter, ref: int, signal_i: int) -> None:
        cfg, book = self.cfg, self.book
        is_buy = it.side is Side.BUY
        px = self._slip(ref, is_buy)
        equity = self._equity_now()
        if it.qty is not None:
            qty = (it.qty // cfg.lot_size) * cfg.lot_size
        else:
            kind, p_int, p_float = self._sizing
            atr_v = float(f.atr[signal_i]) if f.atr is not None and signal_i >= 0 \
                else float("nan")
            qty = size_qty(kind, p_int, p_float, px, equity, atr_v, cfg.lot_size)
        if qty <= 0 or (self._cnc and not is_buy):  # no CNC short: see the module doc
            book.rejected += 1
            return
        fee = self._fee(f, i, is_buy, qty, px)
        if equity - book.used < book.margin(qty, px) + fee:
            book.rejected += 1
            return
        tick = cfg.tick_paise
        leg = Leg(it.tag, it.side, qty, px, int(f.ts[i]),
                  pct_level(px, it.stop_pct, not is_buy, tick) if it.stop_pct else None,
                  pct_level(px, it.target_pct, is_buy, tick) if it.target_pct else None, fee)
        f.ctx.legs[it.tag] = leg
        f.ctx.position += qty if is_buy else -qty
        if leg.stop_paise is not None or leg.target_paise is not None:
            f.brackets = True
        book.open_leg(leg, fee)
        self._record(f, i)
        if f.wants_fills:
            f.strategy.on_fill(Fill(f.symbol, it.tag, it.side, qty, px, leg.entry_ts, fee,
                                    "entry"), f.ctx)

    def _close(self, f: _Feed, tag: str, px: int, i: int, reason: str) -> None:
        ctx = f.ctx
        leg = ctx.legs.pop(tag)
        side = Side.SELL if leg.is_long else Side.BUY
        if self._cnc:
            fee, entry_fee = self._cnc_exit_fees(f, i, leg, px)
        else:
            fee, entry_fee = self._fee(f, i, side is Side.BUY, leg.qty, px), None
        ctx.position -= leg.qty if leg.is_long else -leg.qty
        ts = int(f.ts[i])
        self.book.close_leg(f.symbol, leg, px, ts, fee, reason, entry_fee)
        self._record(f, i)
        if f.brackets:
            f.brackets = any(lg.stop_paise is not None or lg.target_paise is not None
                             for lg in ctx.legs.values())
        if f.wants_fills:
            f.strategy.on_fill(Fill(f.symbol, tag, side, leg.qty, px, ts, fee, reason), ctx)

    def _close_all(self, f: _Feed, ref: int, i: int, reason: str) -> None:
        for tag in list(f.ctx.legs):
            self._close(f, tag, self._slip(ref, not f.ctx.legs[tag].is_long), i, reason)


def run_backtest(data: Mapping[str, Bars] | Bars, strategy: Strategy | Callable[[str], Strategy],
                 config: BacktestConfig | None = None, trade_from: int = 0) -> BacktestResult:
    return Backtester(config).run(data, strategy, trade_from)
