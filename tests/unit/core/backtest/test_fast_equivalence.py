"""The numba fast path and the event-driven engine produce identical trades and equity."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from mandi.core.backtest.data import random_walk_bars
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.backtest.fast import run_fast
from mandi.core.backtest.sizing import AtrRisk, FixedCapital, FixedQty, PercentEquity
from mandi.core.errors import InvalidInput
from mandi.core.fills import Slippage
from mandi.core.strategies.bollinger import BollingerReversion
from mandi.core.strategies.ema_crossover import EmaCrossover
from mandi.core.strategies.macd import MacdCross
from mandi.core.strategies.rsi import RsiReversal


@pytest.fixture(scope="module")
def bars():
    return random_walk_bars(20_000, seed=21)


STRATEGIES = [
    lambda: EmaCrossover(fast=5, slow=20),
    lambda: EmaCrossover(fast=8, slow=21, allow_short=True, stop_loss_pct=0.4,
                         take_profit_pct=0.8),
    lambda: RsiReversal(period=10, oversold=35, overbought=60, stop_loss_pct=0.5),
    lambda: MacdCross(fast=6, slow=19, signal=5, allow_short=True),
    lambda: BollingerReversion(period=15, k=1.5, take_profit_pct=0.3),
]

CONFIGS = [
    BacktestConfig(segment="equity_delivery"),
    BacktestConfig(segment="equity_intraday", slippage=Slippage(bps=2, ticks=1),
                   sizer=PercentEquity(20.0)),
    BacktestConfig(segment="futures", fill_on="close", lot_size=25, margin_rate=0.2,
                   sizer=FixedCapital(50_000_000), mis=True),
    BacktestConfig(segment="options", sizer=AtrRisk(0.5, 14, 2.0), lot_size=5,
                   slippage=Slippage(ticks=2)),
    BacktestConfig(segment="equity_intraday", sizer=FixedQty(10_000),
                   initial_capital_paise=1_000_000_000),  # some entries refused for cash
]


@pytest.mark.parametrize("make", STRATEGIES)
@pytest.mark.parametrize("cfg", CONFIGS)
def test_fast_path_when_same_strategy_and_config_matches_engine_exactly(bars, make, cfg):
    engine = run_backtest(bars, make(), cfg)
    fast = run_fast(bars, make(), cfg)
    assert len(engine.trades) > 5
    assert fast.trades == engine.trades
    assert (fast.equity_paise == engine.equity_paise).all()
    assert fast.rejected == engine.rejected
    assert fast.charges_paid_paise == engine.charges_paid_paise


def test_engine_when_indicators_stream_matches_vectorised_run(bars):
    cfg = BacktestConfig(segment="equity_intraday", slippage=Slippage(ticks=1))
    streamed = run_backtest(bars, MacdCross(stop_loss_pct=0.3),
                            BacktestConfig(**{**cfg.__dict__, "vectorised_indicators": False}))
    vectorised = run_backtest(bars, MacdCross(stop_loss_pct=0.3), cfg)
    assert len(streamed.trades) > 5
    assert streamed.trades == vectorised.trades


def test_fast_path_when_strategy_is_not_signal_based_names_strategy(bars):
    from mandi.core.strategies.ladder import MomentumLadder

    with pytest.raises(InvalidInput) as e:
        run_fast(bars, MomentumLadder())
    assert e.value.field == "strategy"


@settings(max_examples=30, deadline=None)
@given(seed=hs.integers(0, 1_000), fast=hs.integers(2, 15), gap=hs.integers(1, 30),
       short=hs.booleans(), stop=hs.sampled_from([0.0, 0.15, 0.6]),
       target=hs.sampled_from([0.0, 0.25, 1.0]),
       segment=hs.sampled_from(["equity_delivery", "equity_intraday", "futures", "options"]),
       fill_on=hs.sampled_from(["next_open", "close"]), bps=hs.sampled_from([0, 3]),
       ticks=hs.integers(0, 2), sizer=hs.sampled_from([FixedQty(7), PercentEquity(33.0),
                                                       FixedCapital(20_000_000), AtrRisk(0.7)]))
def test_fast_path_when_any_config_matches_engine(seed, fast, gap, short, stop, target, segment,
                                                  fill_on, bps, ticks, sizer):
    bars = random_walk_bars(2_500, seed=seed)
    cfg = BacktestConfig(segment=segment, fill_on=fill_on, sizer=sizer,
                         slippage=Slippage(bps=bps, ticks=ticks),
                         lot_size=25 if segment in ("futures", "options") else 1)
    make = lambda: EmaCrossover(fast=fast, slow=fast + gap, allow_short=short,  # noqa: E731
                                stop_loss_pct=stop, take_profit_pct=target)
    engine = run_backtest(bars, make(), cfg)
    fast_r = run_fast(bars, make(), cfg)
    assert fast_r.trades == engine.trades
    assert (fast_r.equity_paise == engine.equity_paise).all()
    assert fast_r.rejected == engine.rejected
