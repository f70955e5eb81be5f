"""EMA(10/30) crossover on 1,000,000 deterministic bars: Mandi's engine, Mandi's fast path and
backtesting.py (same convention: signal at a bar's close, market fill at the next open, one unit,
no costs, open trade closed at the last close) produce the same trades. The backtesting.py side
computes its EMAs with TA-Lib, so it shares no code with Mandi."""

import warnings

# backtesting.py and TA-Lib are pinned test dependencies, imported normally: a missing one fails
# the run instead of skipping the only independent checks of the engine.
import backtesting
import numpy as np
import pandas as pd
import talib

from mandi.core.backtest.data import random_walk_bars
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.backtest.fast import run_fast
from mandi.core.strategies.ema_crossover import EmaCrossover

N = 1_000_000


def backtesting_py_trades(bars) -> pd.DataFrame:
    df = pd.DataFrame({"Open": bars.open, "High": bars.high, "Low": bars.low,
                       "Close": bars.close, "Volume": bars.volume},
                      index=pd.to_datetime(bars.ts, utc=True).tz_convert(None))

    class EmaCross(backtesting.Strategy):
        def init(self):
            close = np.asarray(self.data.Close, dtype=float)
            self.fast = self.I(talib.EMA, close, 10)
            self.slow = self.I(talib.EMA, close, 30)

        def next(self):
            f, s = self.fast, self.slow
            if f[-2] <= s[-2] and f[-1] > s[-1]:  # Mandi's crosses_above
                self.buy(size=1)
            elif f[-2] >= s[-2] and f[-1] < s[-1] and self.position:
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = backtesting.Backtest(df, EmaCross, cash=1e12, commission=0, finalize_trades=True)
        return bt.run()._trades


def test_ema_crossover_when_run_on_1m_bars_matches_backtesting_py_and_fast_path():
    bars = random_walk_bars(N, seed=7)
    cfg = BacktestConfig(segment="equity_delivery", charges=False,
                         initial_capital_paise=10**14)
    engine = run_backtest(bars, EmaCrossover(fast=10, slow=30), cfg)
    fast = run_fast(bars, EmaCrossover(fast=10, slow=30), cfg)
    ref = backtesting_py_trades(bars)

    assert len(engine.trades) > 10_000
    assert len(ref) == len(engine.trades)
    ours = pd.DataFrame({
        "entry_ts": [t.entry_ts for t in engine.trades],
        "exit_ts": [t.exit_ts for t in engine.trades],
        "entry": [t.entry_price_paise for t in engine.trades],
        "exit": [t.exit_price_paise for t in engine.trades],
        "qty": [t.qty for t in engine.trades],
    })
    ref_ts = lambda col: ref[col].dt.tz_localize("UTC").astype("int64").to_numpy()  # noqa: E731
    np.testing.assert_array_equal(ours.entry_ts.to_numpy(), ref_ts("EntryTime"))
    np.testing.assert_array_equal(ours.exit_ts.to_numpy(), ref_ts("ExitTime"))
    np.testing.assert_array_equal(ours.entry.to_numpy(),
                                  np.round(ref.EntryPrice.to_numpy() * 100).astype(np.int64))
    np.testing.assert_array_equal(ours.exit.to_numpy(),
                                  np.round(ref.ExitPrice.to_numpy() * 100).astype(np.int64))
    np.testing.assert_array_equal(ours.qty.to_numpy(), ref.Size.to_numpy())
    assert fast.trades == engine.trades
    gross = sum(t.gross_pnl_paise for t in engine.trades)
    assert gross == round(ref.PnL.sum() * 100)
