"""Grid search (parallel equals serial, invalid combos skipped) and walk-forward windows."""

import pytest

from mandi.core.backtest.data import random_walk_bars
from mandi.core.backtest.engine import BacktestConfig
from mandi.core.backtest.fast import run_fast_arrays
from mandi.core.backtest.optimize import grid, grid_search, walk_forward
from mandi.core.errors import InvalidInput
from mandi.core.strategies.ema_crossover import EmaCrossover

CFG = BacktestConfig(segment="equity_delivery")


@pytest.fixture(scope="module")
def bars():
    return random_walk_bars(8_000, seed=13)


def test_grid_when_ranges_given_is_their_cartesian_product():
    assert grid({"fast": [5, 8], "slow": [20]}) == [{"fast": 5, "slow": 20},
                                                    {"fast": 8, "slow": 20}]
    with pytest.raises(InvalidInput) as e:
        grid({"fast": []})
    assert e.value.field == "fast"


def test_grid_search_when_parallel_equals_serial_and_skips_invalid(bars):
    ranges = {"fast": [5, 10, 30], "slow": [20, 30]}
    par = grid_search(bars, "ema_crossover", ranges, CFG, "sharpe", processes=2)
    ser = grid_search(bars, "ema_crossover", ranges, CFG, "sharpe", processes=1)
    assert [(r.params, r.metrics) for r in par.rows] == [(r.params, r.metrics) for r in ser.rows]
    assert len(par.rows) == 4
    assert sorted(tuple(p.values()) for p, _ in par.skipped) == [(30, 20), (30, 30)]
    assert all(msg.startswith("fast:") for _, msg in par.skipped)
    sharpes = [r.metrics.sharpe for r in par.rows]
    assert sharpes == sorted(sharpes, reverse=True)
    assert par.best.params == par.rows[0].params


def test_grid_search_when_objective_unknown_names_objective(bars):
    with pytest.raises(InvalidInput) as e:
        grid_search(bars, "ema_crossover", {"fast": [5]}, CFG, "luck")
    assert e.value.field == "objective"


def test_fast_path_when_trade_from_given_never_enters_before_it(bars):
    out = run_fast_arrays(bars, EmaCrossover(fast=5, slow=20), CFG, trade_from=3_000)
    assert len(out.trades) > 5
    assert out.trades[:, 0].min() >= 3_000
    assert (out.equity_paise[:3_000] == CFG.initial_capital_paise).all()


def test_walk_forward_when_run_rolls_windows_and_reports_out_of_sample(bars):
    rep = walk_forward(bars, "ema_crossover", {"fast": [5, 10], "slow": [20, 40]},
                       in_sample=3_000, out_of_sample=1_000, config=CFG, processes=1)
    assert [(w.in_sample_range, w.out_of_sample_range) for w in rep.windows] == [
        ((s, s + 3_000), (s + 3_000, s + 4_000)) for s in range(0, 5_000, 1_000)]
    s = rep.summary()
    assert s["windows"] == 5
    assert s["oos_trades"] == sum(w.oos_metrics.trades for w in rep.windows) > 0
    assert all(w.best_params in grid({"fast": [5, 10], "slow": [20, 40]}) for w in rep.windows)


def test_trade_from_when_engine_and_fast_path_warm_up_they_agree(bars):
    from mandi.core.backtest.engine import run_backtest
    from mandi.core.backtest.fast import run_fast_arrays as arrays
    from mandi.core.backtest.optimize import evaluate

    r = run_backtest(bars, EmaCrossover(fast=5, slow=20), CFG, trade_from=3_000)
    out = arrays(bars, EmaCrossover(fast=5, slow=20), CFG, trade_from=3_000)
    assert [t.entry_ts for t in r.trades] == bars.ts[out.trades[:, 0]].tolist()
    assert min(t.entry_ts for t in r.trades) >= bars.ts[3_000]
    assert (r.equity_paise == out.equity_paise).all()
    # the ladder (engine only) honours the warm-up too
    m = evaluate(bars, "momentum_ladder", {"fast": 5, "slow": 20, "qty": 1}, CFG, 3_000)
    assert m.trades > 0


def test_walk_forward_when_strategy_is_engine_only_still_reports(bars):
    rep = walk_forward(bars, "momentum_ladder", {"fast": [5], "slow": [20, 40], "qty": [1]},
                       in_sample=4_000, out_of_sample=2_000, config=CFG, processes=1)
    assert len(rep.windows) == 2  # OOS 4,000–6,000 and 6,000–8,000
    assert rep.summary()["oos_trades"] > 0
