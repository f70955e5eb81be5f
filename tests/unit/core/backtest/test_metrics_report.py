"""Metrics on hand-made curves; the trade log CSV; metrics of a real run are self-consistent."""

import csv
import io
import math
from datetime import datetime

import numpy as np
import pytest

from mandi.core.backtest.data import random_walk_bars
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.backtest.metrics import compute, daily_returns, drawdown, metrics_of
from mandi.core.backtest.portfolio import Trade
from mandi.core.backtest.report import trade_log_csv
from mandi.core.clock import IST
from mandi.core.strategies.ema_crossover import EmaCrossover


def ts_at(day: int, hh: int, mm: int) -> int:
    return int(datetime(2025, 3, day, hh, mm, tzinfo=IST).timestamp()) * 10**9


# four trading days, two bars each; equity in paise
TS = np.array([ts_at(d, h, 0) for d in (3, 4, 5, 6) for h in (10, 15)], dtype=np.int64)
EQ = np.array([100_000, 102_000, 101_000, 99_000, 95_000, 104_500, 104_000, 110_000])


def test_daily_returns_when_two_bars_a_day_use_the_last_of_each_day():
    r = daily_returns(TS, EQ, 100_000)
    np.testing.assert_allclose(r, [0.02, 99_000 / 102_000 - 1, 104_500 / 99_000 - 1,
                                   110_000 / 104_500 - 1])


def test_drawdown_when_equity_dips_and_recovers_measures_depth_and_length():
    dd = drawdown(EQ)
    assert dd.max() == pytest.approx(1 - 95_000 / 102_000)
    m = compute(TS, EQ, 100_000, np.array([5_000, -2_000, 7_000]), 150, 1_000_000, 0.5)
    assert m.max_drawdown == pytest.approx(7_000 / 102_000)
    assert m.max_drawdown_bars == 3  # bars 2, 3, 4 under the 102,000 peak; recovered at bar 5
    assert m.max_drawdown_days == pytest.approx((TS[5] - TS[1]) / 86_400e9)


def test_compute_when_trades_given_reports_trade_statistics():
    m = compute(TS, EQ, 100_000, np.array([5_000, -2_000, 7_000, -1_000]), 150, 1_000_000, 0.5)
    assert m.trades == 4
    assert m.win_rate == 0.5
    assert m.profit_factor == pytest.approx(12_000 / 3_000)
    assert m.expectancy_paise == pytest.approx(2_250)
    assert (m.avg_win_paise, m.avg_loss_paise) == (6_000, -1_500)
    assert m.total_return == pytest.approx(0.10)
    r = daily_returns(TS, EQ, 100_000)
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    assert m.sortino == pytest.approx(r.mean() / math.sqrt(np.mean(np.minimum(r, 0) ** 2))
                                      * math.sqrt(252))
    assert m.volatility == pytest.approx(r.std(ddof=1) * math.sqrt(252))
    assert m.cagr == pytest.approx(1.10 ** (365.25 / 4) - 1)
    assert m.calmar == pytest.approx(m.cagr / m.max_drawdown)
    assert (m.net_pnl_paise, m.final_equity_paise, m.charges_paise) == (10_000, 110_000, 150)


def test_metrics_of_when_real_run_net_pnl_matches_trades_and_exposure_in_unit_range():
    bars = random_walk_bars(5_000, seed=4)
    r = run_backtest(bars, EmaCrossover(), BacktestConfig(segment="equity_intraday"))
    m = metrics_of(r)
    assert m.trades == len(r.trades) > 10
    assert m.net_pnl_paise == sum(t.net_pnl_paise for t in r.trades)
    assert m.charges_paise == sum(t.charges_paise for t in r.trades) > 0
    assert 0.0 < m.exposure < 1.0
    assert m.turnover_paise == sum(t.qty * (t.entry_price_paise + t.exit_price_paise)
                                   for t in r.trades)


def test_trade_log_csv_when_exported_has_exact_rupees_and_ist_times():
    t = Trade("INFY", "main", "long", 100, ts_at(3, 9, 16), 150105, ts_at(3, 9, 30), 151000,
              2105, 3272, "target")
    rows = list(csv.reader(io.StringIO(trade_log_csv([t]))))
    assert rows[0][:4] == ["symbol", "tag", "side", "qty"]
    assert rows[1] == ["INFY", "main", "long", "100", "2025-03-03T09:16:00+05:30", "1501.05",
                       "2025-03-03T09:30:00+05:30", "1510.00", "895.00", "53.77", "841.23",
                       "target"]
