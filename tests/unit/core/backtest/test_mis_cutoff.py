"""The backtester's MIS square-off follows the calendar: 15:20 IST equity, 15:25 F&O (review
2.8), and a special session's own cut-off (a Muhurat hour is no longer all "after 15:20")."""

from __future__ import annotations

from datetime import datetime, time

import numpy as np

from mandi.core.backtest.data import Bars
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.charges import Side
from mandi.core.clock import IST
from mandi.core.strategies.base import Strategy


def minute_bars(start: datetime, n: int) -> Bars:
    t0 = int(start.timestamp()) * 10**9
    ts = t0 + np.arange(n, dtype=np.int64) * 60 * 10**9
    price = np.full(n, 100.0)
    return Bars(ts, price, price + 0.5, price - 0.5, price, np.full(n, 1000), "X")


class BuyFirstBar(Strategy):
    type_name = "buy_first_bar"

    def on_bar(self, bar, ctx):
        if bar.index == 0:
            ctx.enter(Side.BUY, "L", qty=1)


def exit_hhmm(bars: Bars, cfg: BacktestConfig) -> list[tuple[str, str, str]]:
    r = run_backtest(bars, BuyFirstBar(), cfg)
    fmt = "%H:%M"
    return [(datetime.fromtimestamp(t.entry_ts / 1e9, IST).strftime(fmt),
             datetime.fromtimestamp(t.exit_ts / 1e9, IST).strftime(fmt), t.exit_reason)
            for t in r.trades]


def test_equity_mis_squares_off_at_1520():
    bars = minute_bars(datetime(2025, 11, 20, 15, 10, tzinfo=IST), 20)  # 15:10 .. 15:29
    cfg = BacktestConfig(segment="equity_intraday", charges=False)
    # ordered on the 15:10 bar, filled at the 15:11 open, squared off at the 15:20 open
    assert exit_hhmm(bars, cfg) == [("15:11", "15:20", "squareoff")]


def test_futures_mis_squares_off_at_1525():
    bars = minute_bars(datetime(2025, 11, 20, 15, 10, tzinfo=IST), 20)
    cfg = BacktestConfig(segment="futures", exchange="NFO", mis=True, charges=False)
    assert exit_hhmm(bars, cfg) == [("15:11", "15:25", "squareoff")]


def test_muhurat_session_trades_until_its_own_cutoff():
    # 2024-11-01 Muhurat 18:00-19:00: entry at 18:01, square-off 10 min before the close
    bars = minute_bars(datetime(2024, 11, 1, 18, 0, tzinfo=IST), 60)
    cfg = BacktestConfig(segment="equity_intraday", charges=False)
    assert exit_hhmm(bars, cfg) == [("18:01", "18:50", "squareoff")]


def test_explicit_squareoff_time_still_wins():
    bars = minute_bars(datetime(2025, 11, 20, 15, 10, tzinfo=IST), 20)
    cfg = BacktestConfig(segment="futures", mis=True, charges=False,
                         squareoff_ist=time(15, 15))
    assert exit_hhmm(bars, cfg) == [("15:11", "15:15", "squareoff")]


def test_cutoff_of_one_bar_at_a_time_equals_the_whole_series():
    """A bot asks bar by bar (`at_cutoff`); the answer is the series' answer, on normal days,
    a Muhurat evening, a holiday and for F&O, and with an explicit square-off time."""
    from mandi.core.backtest.engine import at_cutoff, cutoff_mask
    from mandi.core.charges import Segment

    starts = [datetime(2026, 3, 2, 9, 15, tzinfo=IST), datetime(2025, 10, 21, 13, 0, tzinfo=IST),
              datetime(2026, 3, 3, 14, 0, tzinfo=IST)]
    ts = np.concatenate([minute_bars(s, 24 * 60 - s.hour * 60 - s.minute).ts for s in starts])
    for cfg in (BacktestConfig(), BacktestConfig(segment=Segment.FUTURES, exchange="NFO"),
                BacktestConfig(squareoff_ist=time(15, 5))):
        whole = cutoff_mask(ts, cfg)
        one = np.array([at_cutoff(int(t), cfg) for t in ts.tolist()])
        assert whole.any() and not whole.all()
        assert (one == whole).all()
