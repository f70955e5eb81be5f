"""The tear sheet's and the CSV's arithmetic and escaping, without services: exact rupees from
paise, monthly returns by IST month, downsampling that keeps the extremes, text escaped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mandi.core.backtest.report import monthly_returns, year_returns
from mandi.platform.protoconv import to_timestamp
from mandi.v1 import strategy_pb2
from services.gateway.backtest_report import MAX_POINTS, _downsample, metric_text, render_report
from services.gateway.routers.backtests import rupees_text
from services.gateway.routers.optimize import _our_field, param_ranges
from services.gateway.schemas.strategy import GridRange


@pytest.mark.parametrize(("paise", "text"), [
    (0, "0.00"), (5, "0.05"), (-5, "-0.05"), (100, "1.00"), (12345, "123.45"),
    (-100_000_001, "-1000000.01"), (2**53 + 1, "90071992547409.93"),
])
def test_rupees_text_when_paise_given_is_exact_two_decimals(paise, text):
    assert rupees_text(paise) == text


def test_monthly_returns_when_curve_spans_months_uses_ist_month_ends():
    def at(*a):
        return datetime(*a, tzinfo=UTC)

    points = [(at(2025, 1, 10, 4), 101_000), (at(2025, 1, 31, 19), 110_000),  # 1 Feb IST
              (at(2025, 2, 27, 9), 99_000), (at(2025, 3, 3, 9), 99_000)]
    months = monthly_returns(points, 100_000)
    assert months[2025][1] == pytest.approx(101_000 / 100_000 - 1)
    assert months[2025][2] == pytest.approx(99_000 / 101_000 - 1)
    assert months[2025][3] == 0
    assert year_returns(months)[2025] == pytest.approx(99_000 / 100_000 - 1)


def test_downsample_when_long_keeps_extremes_and_bounds_points():
    ys = [float(i % 997) for i in range(100_000)]
    ys[54_321] = 10_000.0
    ys[77_777] = -10_000.0
    xs, out = _downsample(range(len(ys)), ys)
    assert len(out) <= MAX_POINTS and max(out) == 10_000.0 and min(out) == -10_000.0
    assert xs == sorted(xs)


def test_metric_text_when_values_special_formats_them():
    assert metric_text({"profit_factor": None}, "profit_factor") == "—"
    assert metric_text({"total_return": -0.01234}, "total_return") == "-1.23%"
    assert metric_text({"net_pnl": -1234.5}, "net_pnl") == "-₹1,234.50"
    assert metric_text({"trades": 1234}, "trades") == "1,234"


def test_render_report_when_names_carry_markup_escapes_them():
    res = strategy_pb2.GetBacktestResultsResponse()
    p = res.equity.add(equity_paise=100_000, drawdown=0.0)
    p.ts.CopyFrom(to_timestamp(datetime(2025, 1, 2, 4, tzinfo=UTC)))
    run = {"id": "x", "status": "done", "created_at": None, "finished_at": None,
           "strategy": {"name": "<script>alert(1)</script>", "type": "rsi", "params": {}},
           "symbols": ["NSE:A&B"], "interval": "day", "capital": 1000.0}
    html = render_report(run, {"trades": 0}, res, None)
    assert "<script>" not in html and "&lt;script&gt;" in html and "NSE:A&amp;B" in html


def test_param_ranges_when_grid_too_large_names_param_grid():
    from mandi.core.errors import InvalidInput

    grid = {"fast": GridRange(start=1, stop=100, step=1), "slow": [float(i) for i in range(51)]}
    with pytest.raises(InvalidInput) as err:
        param_ranges(grid)
    assert err.value.field == "param_grid" and "5,100 combinations" in err.value.message
    assert len(param_ranges({"fast": [1.0, 2.0]})) == 1


@pytest.mark.parametrize(("theirs", "ours"), [
    ("ranges[1].name", "param_grid.slow"), ("ranges", "param_grid"), ("objective", "metric"),
    ("spec.strategy.params.fast", "strategy.params.fast"), ("spec.symbols", "symbols"),
    ("walk_forward_splits", "walk_forward_splits"), (None, None),
])
def test_our_field_when_service_names_field_uses_api_words(theirs, ours):
    assert _our_field(theirs, ["fast", "slow"]) == ours
