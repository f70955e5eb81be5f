"""The backtest of a bot's day, as the bot trades it: the other side of the parity report.

The bot's strategy and sizing on the day's stored candles, warmed up on the bars before the day as
the bot was, with the bot's conventions (bot_engine.py): market orders of a signal bar fill at the
next bar's open (`fill_on="next_open"`, paper fill model), MIS squares off one bar before the
broker's cut-off, entries before the bot's first live bar are dropped, indicators are streamed bar
by bar (`prepare(None)`, as a bot's), nothing is closed at the end of the day (a CNC leg stays
open), and a fixed-quantity bot's backtest refuses no entry for want of cash (the bot checks no
margin; execution's risk refusals are listed as such). Its trades become parity `Order`s keyed as
the bot's client_order_ids are (signal bar; a stop or target exit: the bar it was hit on).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import date
from datetime import time as clock_time
from typing import Any

import numpy as np

from mandi.core.backtest.data import Bars
from mandi.core.backtest.engine import BacktestConfig, Backtester
from mandi.core.backtest.sizing import FIXED_QTY
from mandi.core.calendar import FNO_EXCHANGES, session
from mandi.core.charges import Segment
from mandi.core.strategies.base import Context, Enter, Strategy
from services.strategy.parity import BRACKET_REASONS, Order

UNLIMITED_CAPITAL_PAISE = 10**15  # ₹10 lakh crore: no fixed-quantity entry is refused for cash


def bot_squareoff(cfg: BacktestConfig, day: date, interval_ns: int) -> clock_time | None:
    """The backtest's square-off time that matches a bot's: one bar before the day's MIS
    cut-off (bot_engine.py's module doc)."""
    if not cfg.mis:
        return None
    fno = cfg.segment in (Segment.FUTURES, Segment.OPTIONS)
    exchange = "NFO" if fno else cfg.exchange
    sess = session(day)
    minute = (sess.mis_cutoff_minute(exchange) if sess is not None
              else 15 * 60 + (25 if fno or exchange.upper() in FNO_EXCHANGES else 20))
    minute -= interval_ns // (60 * 10**9)
    return clock_time(minute // 60, minute % 60)


class _LiveFrom(Strategy):
    """Drops the entries a strategy orders on bars before `ts`, by bar time (the engine's own
    `trade_from` is one bar index for every symbol, and symbols' warm-ups differ in length)."""

    type_name = "live_from"

    def __init__(self, inner: Strategy, ts: int) -> None:
        self.inner = inner
        self.params = inner.params
        self.state = inner.state
        self.ts = ts

    def on_start(self, symbol: str) -> None:
        self.inner.on_start(symbol)

    def prepare(self, bars: Any) -> Any:
        return self.inner.prepare(bars)

    def on_bar(self, bar: Any, ctx: Context) -> None:
        self.inner.on_bar(bar, ctx)
        if bar.ts < self.ts and ctx.intents:
            ctx.intents = [it for it in ctx.intents if type(it) is not Enter]

    def on_fill(self, fill: Any, ctx: Context) -> None:
        self.inner.on_fill(fill, ctx)


def day_backtest(bars: Mapping[str, Bars], factory: Callable[[str], Strategy],
                 cfg: BacktestConfig, day: date, trade_from_ts: int,
                 interval_ns: int) -> list[Order]:
    """The backtest of `day` as the bot trades it; returns its orders. `bars` run from the
    warm-up's first bar to the day's end; entries signalled before `trade_from_ts` are dropped
    (per symbol, as the bot drops entries before its first live bar)."""
    # indicators streamed bar by bar, as a bot's are (prepare(None)); a bot sizing by fixed
    # quantity checks no margin (execution's risk checks stand in): neither does its backtest
    fixed = cfg.sizer.as_params()[0] == FIXED_QTY
    cfg = dataclasses.replace(cfg, fill_on="next_open", close_at_end=False,
                              squareoff_ist=bot_squareoff(cfg, day, interval_ns),
                              vectorised_indicators=False,
                              initial_capital_paise=UNLIMITED_CAPITAL_PAISE if fixed
                              else cfg.initial_capital_paise)
    bt = Backtester(cfg)
    names = sorted(bars)
    result = bt.run({s: bars[s] for s in names},
                    lambda s: _LiveFrom(factory(s), trade_from_ts))
    out: list[Order] = []
    ts_of = {s: bars[s].ts for s in names}

    def signal_of(symbol: str, fill_ts: int) -> int:
        ts = ts_of[symbol]
        i = int(np.searchsorted(ts, fill_ts))
        return int(ts[i - 1]) if i > 0 else int(fill_ts)

    for t in result.trades:
        long = t.side == "long"
        entry_bar = signal_of(t.symbol, t.entry_ts)
        out.append(Order(t.symbol, t.tag, "in", "BUY" if long else "SELL", t.qty, entry_bar,
                         "entry", t.entry_price_paise, t.qty, leg_ts=entry_bar,
                         sent_ts=t.entry_ts))
        exit_bar = (t.exit_ts if t.exit_reason in BRACKET_REASONS
                    else signal_of(t.symbol, t.exit_ts))
        out.append(Order(t.symbol, t.tag, "out", "SELL" if long else "BUY", t.qty, exit_bar,
                         t.exit_reason, t.exit_price_paise, t.qty, leg_ts=entry_bar,
                         sent_ts=t.exit_ts))
    for f in bt.feeds:  # legs still open at the day's end (CNC)
        for leg in f.ctx.legs.values():
            entry_bar = signal_of(f.symbol, leg.entry_ts)
            out.append(Order(f.symbol, leg.tag, "in", leg.side.value, leg.qty, entry_bar,
                             "entry", leg.entry_price_paise, leg.qty, leg_ts=entry_bar,
                             sent_ts=leg.entry_ts))
    return out
