"""A running backtest's results so far (seed 002's live backtest view): equity, closed trades
and their net P&L, a sampled equity curve and the newest trades.

Taken on the engine's thread at each progress tick (every PROGRESS_EVERY_BARS bars of a
symbol), from the engine's own book, so it costs a few list reads per tick and nothing per bar;
the job's heartbeat stores the latest as `backtests.partial` (a BacktestPartial) and
GetBacktest returns it while the run is not done. The curve keeps at most MAX_POINTS samples:
when full, every other one is dropped and samples are taken half as often.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mandi.platform.protoconv import to_timestamp
from mandi.v1 import strategy_pb2

MAX_POINTS = 200
RECENT_TRADES = 20


@dataclass(frozen=True)
class Partial:
    bars_done: int
    ts_ns: int
    equity_paise: int
    trades: int
    net_pnl_paise: int
    curve: tuple[tuple[int, int], ...]
    recent: tuple[Any, ...]  # mandi.core.backtest.portfolio.Trade


@dataclass
class PartialResults:
    engine: Any = None  # the Backtester, set before it runs
    latest: Partial | None = None  # replaced whole (read from the event loop's thread)
    _bars: int = 0
    _seen: int = 0
    _net: int = 0
    _ticks: int = 0
    _every: int = 1
    _curve: list[tuple[int, int]] = field(default_factory=list)

    def take(self, bars: int, ts_ns: int) -> None:
        """On the engine's thread: `bars` more processed, the last one at `ts_ns`."""
        self._bars += bars
        trades = self.engine.book.trades
        for t in trades[self._seen:]:
            self._net += t.net_pnl_paise
        self._seen = len(trades)
        equity = self.engine.equity_now()
        self._ticks += 1
        if self._ticks % self._every == 0:
            self._curve.append((ts_ns, equity))
            if len(self._curve) > MAX_POINTS:
                self._curve = self._curve[::2]
                self._every *= 2
        self.latest = Partial(self._bars, ts_ns, equity, self._seen, self._net,
                              tuple(self._curve), tuple(trades[-RECENT_TRADES:]))


def _ts(ns: int) -> Any:
    return to_timestamp(datetime.fromtimestamp(ns / 1e9, UTC))


def partial_proto(p: Partial) -> strategy_pb2.BacktestPartial:
    msg = strategy_pb2.BacktestPartial(bars_done=p.bars_done, equity_paise=p.equity_paise,
                                       trades=p.trades, net_pnl_paise=p.net_pnl_paise)
    msg.as_of.CopyFrom(_ts(p.ts_ns))
    for ts_ns, equity in p.curve:
        point = msg.equity.add(equity_paise=equity)
        point.ts.CopyFrom(_ts(ts_ns))
    for t in p.recent:
        trade = msg.recent_trades.add(
            symbol=t.symbol, side=t.side.upper(), quantity=t.qty,
            entry_price_paise=t.entry_price_paise, exit_price_paise=t.exit_price_paise,
            gross_pnl_paise=t.gross_pnl_paise, charges_paise=t.charges_paise,
            net_pnl_paise=t.net_pnl_paise, exit_reason=t.exit_reason)
        trade.entry_ts.CopyFrom(_ts(t.entry_ts))
        trade.exit_ts.CopyFrom(_ts(t.exit_ts))
    return msg
