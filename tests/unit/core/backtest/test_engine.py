"""Engine behaviour beyond single-symbol signals: shared capital, sizing, lots, config errors."""

import math

import numpy as np
import pytest

from mandi.core.backtest.data import Bars, random_walk_bars, session_minute_timestamps
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.backtest.sizing import (
    ATR_RISK,
    FIXED_CAPITAL,
    PCT_EQUITY,
    AtrRisk,
    FixedCapital,
    PercentEquity,
    size_qty,
)
from mandi.core.charges import Side
from mandi.core.errors import InvalidInput
from mandi.core.strategies.base import Strategy
from mandi.core.strategies.ema_crossover import EmaCrossover


def flat_bars(prices, symbol="X", start=0):
    p = np.asarray(prices, dtype=float)
    return Bars(session_minute_timestamps(len(p) + start)[start:], p, p, p, p,
                np.full(len(p), 100), symbol)


class BuyAt(Strategy):
    """Buys (sizer decides qty) at the given bar indices, exits at others."""

    type_name = "buy_at"

    def __init__(self, buys=(), exits=()):
        super().__init__()
        self.buys, self.exits = set(buys), set(exits)

    def on_bar(self, bar, ctx):
        if bar.index in self.buys:
            ctx.enter(Side.BUY)
        if bar.index in self.exits:
            ctx.exit()


def test_portfolio_when_two_symbols_share_capital_second_entry_is_refused():
    a = flat_bars([100.0] * 6, "A")
    b = flat_bars([100.0] * 6, "B")
    cfg = BacktestConfig(segment="equity_delivery", charges=False,
                         initial_capital_paise=1_000_000, sizer=FixedCapital(1_000_000))
    r = run_backtest({"A": a, "B": b},
                     lambda sym: BuyAt(buys=[0], exits=[3]) if sym == "A" else BuyAt(buys=[1]),
                     cfg)
    # A buys 100 units with all the cash; B's order at bar 2 finds no buying power
    assert [(t.symbol, t.qty) for t in r.trades] == [("A", 100)]
    assert r.rejected == 1
    assert len(r.equity_paise) == 6  # one point per timestamp, not per bar


def test_portfolio_when_symbols_trade_in_turn_equity_is_the_sum_of_their_pnl():
    data = {s: random_walk_bars(3_000, seed=k, symbol=s) for k, s in enumerate(["A", "B", "C"])}
    cfg = BacktestConfig(segment="equity_intraday", sizer=PercentEquity(10.0))
    r = run_backtest(data, lambda s: EmaCrossover(fast=5, slow=20), cfg)
    assert {t.symbol for t in r.trades} == {"A", "B", "C"}
    assert r.final_equity_paise == cfg.initial_capital_paise + sum(t.net_pnl_paise
                                                                   for t in r.trades)
    singles = sum(len(run_backtest(data[s], EmaCrossover(fast=5, slow=20), cfg).trades)
                  for s in data)
    assert len(r.trades) == singles  # 10 % each never exhausts the shared pool here


def test_portfolio_when_one_instance_for_many_symbols_names_strategy():
    data = {s: random_walk_bars(100, symbol=s) for s in ("A", "B")}
    with pytest.raises(InvalidInput) as e:
        run_backtest(data, EmaCrossover(), BacktestConfig())
    assert e.value.field == "strategy"


def test_sizing_when_rules_applied_round_down_to_lots():
    assert size_qty(FIXED_CAPITAL, 1_000_000, 0.0, 12_345, 0, math.nan, 1) == 81
    assert size_qty(PCT_EQUITY, 2_500, 0.0, 10_000, 10_000_000, math.nan, 1) == 250
    assert size_qty(PCT_EQUITY, 2_500, 0.0, 10_000, 10_000_000, math.nan, 75) == 225
    # risk 1 % of ₹1,00,000 = ₹1,000; one unit risks 2 × ATR ₹2.50 = ₹5 → 200 units
    assert size_qty(ATR_RISK, 100, 2.0, 10_000, 10_000_000, 2.5, 1) == 200
    assert size_qty(ATR_RISK, 100, 2.0, 10_000, 10_000_000, math.nan, 1) == 0


def test_lot_size_when_futures_trade_whole_lots_only():
    bars = random_walk_bars(2_000, seed=6)
    cfg = BacktestConfig(segment="futures", lot_size=75, sizer=AtrRisk(1.0), margin_rate=0.15)
    r = run_backtest(bars, EmaCrossover(fast=5, slow=20), cfg)
    assert r.trades and all(t.qty % 75 == 0 and t.qty > 0 for t in r.trades)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"fill_on": "vwap"}, "fill_on"),
    ({"lot_size": 0}, "lot_size"),
    ({"margin_rate": 0}, "margin_rate"),
    ({"initial_capital_paise": -5}, "initial_capital_paise"),
    ({"segment": "crypto"}, "segment"),
])
def test_config_when_invalid_names_the_field(kwargs, field):
    with pytest.raises(InvalidInput) as e:
        BacktestConfig(**kwargs)
    assert e.value.field == field


def test_sizer_when_percent_out_of_range_names_field():
    with pytest.raises(InvalidInput) as e:
        PercentEquity(150.0)
    assert e.value.field == "pct"


def test_fill_on_close_when_signal_fills_at_that_bars_close():
    bars = flat_bars([100.0, 101.0, 102.0, 103.0])
    r = run_backtest(bars, BuyAt(buys=[1], exits=[2]),
                     BacktestConfig(segment="equity_delivery", fill_on="close", charges=False))
    t = r.trades[0]
    assert (t.entry_price_paise, t.exit_price_paise) == (10100, 10200)
    assert (t.entry_ts, t.exit_ts) == (int(bars.ts[1]), int(bars.ts[2]))
