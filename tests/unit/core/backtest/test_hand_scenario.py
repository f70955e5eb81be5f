"""A 20-bar intraday session worked by hand: every trade, charge and rupee of P&L to the paisa.

Segment equity intraday (NSE), rate table of 2024-10-01, trade date 2025-01-15; slippage one
tick (₹0.05) against the trader on market and stop fills, none on targets (limit orders).
Bars are one minute from 15:05 IST, so the 15:20 MIS square-off falls on bar 15.

Per-fill charges (brokerage min(₹20, 0.03 %), STT 0.025 % on sells, NSE txn 0.00307 % (0.00297 %
+ IPFT ₹10/cr), SEBI 0.0001 %, stamp 0.003 % on buys, GST 18 % on brokerage + txn + SEBI; each
rounded to the paisa):

  fill                        turnover    brok    STT    txn   SEBI  stamp    GST   total
  1 BUY  100 @ 501.05 (open)  50,105.00  15.03      -   1.54   0.05   1.50   2.99   21.11
  2 SELL 100 @ 511.05 target  51,105.00  15.33  12.78   1.57   0.05      -   3.05   32.78
  3 SELL  50 @ 509.95 (open)  25,497.50   7.65   6.37   0.78   0.03      -   1.52   16.35
  4 BUY   50 @ 506.55 (open)  25,327.50   7.60      -   0.78   0.03   0.76   1.51   10.68
  5 BUY   40 @ 506.05 (open)  20,242.00   6.07      -   0.62   0.02   0.61   1.21    8.53
  6 SELL  40 @ 503.45 stop    20,138.00   6.04   5.03   0.62   0.02      -   1.20   12.91
  7 BUY   30 @ 507.05 (open)  15,211.50   4.56      -   0.47   0.02   0.46   0.91    6.42
  8 SELL  30 @ 507.45 sq.off  15,223.50   4.57   3.81   0.47   0.02      -   0.91    9.78

  trade                 gross     charges      net
  T1 long 100        1,000.00      53.89    946.11   target 511.05 (501.05 × 1.02 = 511.071)
  T2 short 50          170.00      27.03    142.97   exit on signal
  T3 long 40          −104.00      21.44   −125.44   bar 12 touches stop 503.50 and target 508.60:
                                                     the stop is taken (conservative), 503.45
  T4 long 30            12.00      16.20     −4.20   MIS square-off at the 15:20 open
  total               1,078.00     118.56    959.44   → equity ₹10,00,959.44
"""

from datetime import datetime

import numpy as np

from mandi.core.backtest.data import Bars
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.backtest.fast import run_fast
from mandi.core.charges import Side
from mandi.core.clock import IST
from mandi.core.fills import Slippage
from mandi.core.strategies.base import Strategy

OHLC = [
    (500.00, 500.50, 499.50, 500.00), (500.00, 501.00, 499.80, 500.50),
    (501.00, 503.00, 500.50, 502.00), (502.00, 506.00, 501.00, 505.00),
    (505.00, 509.00, 504.00, 508.00), (508.00, 512.00, 507.50, 511.50),
    (511.50, 512.00, 510.00, 510.50), (510.00, 510.50, 508.00, 509.00),
    (509.00, 509.50, 505.00, 506.00), (506.50, 507.00, 505.50, 506.00),
    (506.00, 506.50, 505.50, 506.00), (506.00, 507.00, 505.00, 506.50),
    (506.50, 509.00, 503.00, 507.00), (507.00, 507.50, 506.50, 507.00),
    (507.00, 508.00, 506.80, 507.50), (507.50, 508.00, 507.00, 507.80),
    (507.80, 508.00, 507.50, 507.90), (507.90, 508.10, 507.60, 507.70),
    (507.70, 507.90, 507.40, 507.50), (507.50, 507.70, 507.30, 507.60),
]


def scenario_bars() -> Bars:
    start = int(datetime(2025, 1, 15, 15, 5, tzinfo=IST).timestamp()) * 10**9
    ts = start + np.arange(20, dtype=np.int64) * 60 * 10**9
    o, h, lo, c = (np.array(col) for col in zip(*OHLC, strict=True))
    return Bars(ts, o, h, lo, c, np.full(20, 1000), "TEST")


class Script(Strategy):
    type_name = "script"

    def on_bar(self, bar, ctx):
        i = bar.index
        if i == 1:
            ctx.enter(Side.BUY, "L1", qty=100, stop_pct=1.0, target_pct=2.0)
        elif i == 6:
            ctx.enter(Side.SELL, "S1", qty=50, stop_pct=1.0)
        elif i == 8:
            ctx.exit("S1")
        elif i == 10:
            ctx.enter(Side.BUY, "L2", qty=40, stop_pct=0.5, target_pct=0.5)
        elif i == 13:
            ctx.enter(Side.BUY, "L3", qty=30)
        elif i == 16:
            ctx.enter(Side.BUY, "L4", qty=10)  # after the 15:20 cut-off: refused


def at(hhmm: str) -> int:
    h, m = map(int, hhmm.split(":"))
    return int(datetime(2025, 1, 15, h, m, tzinfo=IST).timestamp()) * 10**9


CFG = BacktestConfig(segment="equity_intraday", slippage=Slippage(ticks=1, tick_paise=5))


def test_hand_scenario_when_run_gives_exact_trades_charges_and_pnl():
    r = run_backtest(scenario_bars(), Script(), CFG)
    got = [(t.tag, t.side, t.qty, t.entry_ts, t.entry_price_paise, t.exit_ts, t.exit_price_paise,
            t.entry_charges_paise, t.exit_charges_paise, t.gross_pnl_paise, t.net_pnl_paise,
            t.exit_reason) for t in r.trades]
    assert got == [
        ("L1", "long", 100, at("15:07"), 50105, at("15:10"), 51105, 2111, 3278, 100000, 94611,
         "target"),
        ("S1", "short", 50, at("15:12"), 50995, at("15:14"), 50655, 1635, 1068, 17000, 14297,
         "signal"),
        ("L2", "long", 40, at("15:16"), 50605, at("15:17"), 50345, 853, 1291, -10400, -12544,
         "stop"),
        ("L3", "long", 30, at("15:19"), 50705, at("15:20"), 50745, 642, 978, 1200, -420,
         "squareoff"),
    ]
    assert r.charges_paid_paise == 11856
    assert sum(t.net_pnl_paise for t in r.trades) == 95944
    assert r.final_equity_paise == 100_000_000 + 95944
    assert r.fills == 8
    assert r.rejected == 0


def test_hand_scenario_when_equity_marked_each_bar_follows_positions():
    r = run_backtest(scenario_bars(), Script(), CFG)
    eq = r.equity_paise
    assert len(eq) == 20
    assert eq[0] == eq[1] == 100_000_000  # flat until the bar-2 fill
    # bar 2: bought 100 at 501.05 paying 21.11, marked at the 502.00 close
    assert eq[2] == 100_000_000 - 50105 * 100 - 2111 + 50200 * 100
    assert eq[-1] == 100_095_944


def test_bars_when_one_leg_at_a_time_fast_path_agrees_on_shared_rules():
    """Same bars through the fast path with a one-leg signal strategy: stops and MIS agree."""
    from mandi.core.strategies.ema_crossover import EmaCrossover

    bars = scenario_bars()
    s = dict(fast=2, slow=5, stop_loss_pct=0.2, take_profit_pct=0.4, allow_short=True)
    assert run_fast(bars, EmaCrossover(**s), CFG).trades == \
        run_backtest(bars, EmaCrossover(**s), CFG).trades
