"""CNC in the backtester (findings C, J/1.14, review 5.11): a leg sold the day it was bought is
charged as intraday on both fills, a leg sold on a later day pays delivery rates plus the DP
charge once per scrip-day, and a short entry under CNC is refused (Kite rejects a CNC sell
without holdings, so a backtest cannot carry a short overnight; shorts need MIS). Hand figures
at the 2024-10-01 rates, NSE txn with IPFT 0.00307 %, each fill rounded to the paisa."""

from datetime import datetime

import numpy as np

from mandi.core.backtest.data import Bars, random_walk_bars
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.backtest.fast import run_fast
from mandi.core.charges import Side
from mandi.core.clock import IST
from mandi.core.strategies.base import Strategy
from mandi.core.strategies.ema_crossover import EmaCrossover

CNC = BacktestConfig(segment="equity_delivery", fill_on="close", initial_capital_paise=10**9)


def bars(closes: list[float], days: list[int]) -> Bars:
    """One bar per close, at 10:00 + k minutes IST on 2026-03-(10 + day)."""
    ts = np.array([int(datetime(2026, 3, 10 + d, 10, k, tzinfo=IST).timestamp()) * 10**9
                   for k, d in enumerate(days)], dtype=np.int64)
    c = np.array(closes)
    return Bars(ts, c, c, c, c, np.full(len(c), 1000), "INFY")


class Script(Strategy):
    """Orders by bar index: {index: [("enter", tag, side, qty) | ("exit", tag)]}."""

    type_name = "script"

    def __init__(self, plan):
        super().__init__()
        self.plan = plan

    def on_bar(self, bar, ctx):
        for step in self.plan.get(bar.index, []):
            if step[0] == "enter":
                ctx.enter(step[2], step[1], qty=step[3])
            else:
                ctx.exit(step[1])


def test_cnc_when_sold_the_same_day_is_charged_intraday_on_both_fills():
    r = run_backtest(bars([1500, 1505, 1510], [0, 0, 0]),
                     Script({0: [("enter", "a", Side.BUY, 100)], 2: [("exit", "a")]}), CNC)
    (t,) = r.trades
    # buy 100 @ 1,500 = 1,50,000 at intraday rates: brokerage 45 → 20; txn 4.605 → 4.61;
    # SEBI 0.15; stamp 0.003 % = 4.50; GST 18 % × 24.76 = 4.4568 → 4.46; total 33.72
    # (booked at delivery rates, 178.12, until the same-day sell re-prices it).
    # sell 100 @ 1,510 = 1,51,000: brokerage 20; STT 0.025 % = 37.75; txn 4.6357 → 4.64;
    # SEBI 0.151 → 0.15; GST 18 % × 24.79 = 4.4622 → 4.46; total 67.00.
    # Round trip ₹100.72 (the ledger's day total rounds txn once: ₹100.71); delivery: ₹334+.
    assert (t.entry_charges_paise, t.exit_charges_paise) == (3372, 6700)
    assert r.charges_paid_paise == 10072
    assert r.final_equity_paise == 10**9 + 100_000 - 10072


def test_cnc_when_sold_next_day_pays_delivery_and_dp_once_per_scrip_day():
    plan = {0: [("enter", "a", Side.BUY, 50), ("enter", "b", Side.BUY, 50)],
            1: [("exit", "a"), ("exit", "b")]}
    r = run_backtest(bars([1500, 1510], [0, 1]), Script(plan), CNC)
    # each buy 50 @ 1,500 = 75,000 at delivery rates: STT 0.1 % = 75.00; txn 2.3025 → 2.30;
    # SEBI 0.075 → 0.08; stamp 0.015 % = 11.25; GST 18 % × 2.38 = 0.4284 → 0.43; total 89.06.
    # each sell 50 @ 1,510 = 75,500 the next day: STT 75.50; txn 2.31785 → 2.32; SEBI 0.08;
    # GST 18 % × 2.40 = 0.432 → 0.43; total 78.33 — and the first sell of the scrip-day pays the
    # DP charge ₹13 + 18 % GST = 15.34: 93.67.
    assert [(t.tag, t.entry_charges_paise, t.exit_charges_paise) for t in r.trades] == [
        ("a", 8906, 9367), ("b", 8906, 7833)]
    assert r.charges_paid_paise == 2 * 8906 + 9367 + 7833


def test_cnc_when_strategy_shorts_the_entry_is_refused():
    plan = {0: [("enter", "s", Side.SELL, 10)], 1: [("exit", "s")]}
    r = run_backtest(bars([1500, 1490], [0, 1]), Script(plan), CNC)
    assert (r.trades, r.rejected, r.fills) == ([], 1, 0)
    # the same short under MIS trades (same day here, so no square-off in between)
    mis = BacktestConfig(segment="equity_intraday", fill_on="close")
    r = run_backtest(bars([1500, 1490], [0, 0]), Script(plan), mis)
    assert [(t.side, t.qty, t.gross_pnl_paise) for t in r.trades] == [("short", 10, 10 * 1000)]


def test_cnc_when_signal_strategy_runs_fast_path_equals_engine_and_never_shorts():
    data = random_walk_bars(375 * 6, seed=3, symbol="INFY")  # six sessions of minute bars
    cfg = BacktestConfig(segment="equity_delivery", initial_capital_paise=10**9)
    params = dict(fast=5, slow=40, allow_short=True, stop_loss_pct=0.4)
    slow, fast = run_backtest(data, EmaCrossover(**params), cfg), run_fast(
        data, EmaCrossover(**params), cfg)
    assert fast.trades == slow.trades
    assert fast.charges_paid_paise == slow.charges_paid_paise
    assert fast.rejected == slow.rejected > 0  # the exit signals that would have shorted
    assert {t.side for t in slow.trades} == {"long"}
    day = 86_400 * 10**9
    ist = (5 * 3600 + 1800) * 10**9
    same_day = [(t.entry_ts + ist) // day == (t.exit_ts + ist) // day for t in slow.trades]
    assert True in same_day and False in same_day  # both cost paths are exercised
    np.testing.assert_array_equal(fast.equity_paise, slow.equity_paise)
