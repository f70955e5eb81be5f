"""What a service-level backtest must equal: the core engine (`mandi.core.backtest`, itself
checked trade for trade against backtesting.py) run here, in the test, on the same bars the fake
history serves (`fake_history.make_bars`, sliced to [from, to) independently of FakeHistory),
with a config written out by hand from the spec rather than built by the service's own mapping.

A service that shifted timestamps, reordered or dropped batches, sliced the range wrongly,
resumed a job twice or mapped sizing/costs wrongly gives different trades or metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import numpy as np
import pytest

from mandi.core.backtest.data import Bars
from mandi.core.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from mandi.core.backtest.metrics import metrics_of
from mandi.core.backtest.sizing import FixedQty
from mandi.core.charges import Segment
from mandi.core.fills import Slippage
from mandi.core.strategies import registry
from mandi.core.strategies.base import Strategy
from tests.integration.strategy.fake_history import make_bars

# The specs the strategy tests send: NSE equities, MIS, 10 shares a trade, ₹10 lakh, next-open
# fills, no slippage, charges on.
MIS_FIXED_10 = BacktestConfig(segment=Segment.EQUITY_INTRADAY, exchange="NSE",
                              initial_capital_paise=100_000_000, fill_on="next_open",
                              slippage=Slippage(0, 0), sizer=FixedQty(10), lot_size=1, mis=True,
                              charges=True)


def served_bars(name: str, start: datetime, end: datetime) -> Bars:
    """`name` ("NSE:INFY") as FakeHistory serves it: its seed is the sum of the name's code
    points, and only bars with start <= ts < end."""
    full = make_bars(name, sum(map(ord, name)))
    lo, hi = int(start.timestamp() * 1e9), int(end.timestamp() * 1e9)
    idx = np.nonzero((full.ts >= lo) & (full.ts < hi))[0]
    return full.slice(int(idx[0]), int(idx[-1]) + 1)


def local_run(names: Sequence[str], start: datetime, end: datetime,
              factory: Callable[[str], Strategy] | str, params: dict | None = None,
              config: BacktestConfig = MIS_FIXED_10) -> BacktestResult:
    if isinstance(factory, str):
        kind, kw = factory, dict(params or {})

        def factory(_symbol: str) -> Strategy:
            return registry.create(kind, dict(kw))

    return run_backtest({n: served_bars(n, start, end) for n in names}, factory, config)


def core_trades(result: BacktestResult) -> list[tuple]:
    return sorted((t.symbol, t.side.upper(), t.qty, t.entry_ts // 1_000_000,
                   t.entry_price_paise, t.exit_ts // 1_000_000, t.exit_price_paise,
                   t.gross_pnl_paise, t.charges_paise, t.net_pnl_paise, t.exit_reason)
                  for t in result.trades)


def service_trades(trades: Iterable) -> list[tuple]:
    """Proto BacktestTrade messages in the same shape (timestamps in epoch ms)."""
    return sorted((t.symbol, t.side, t.quantity, t.entry_ts.ToMilliseconds(),
                   t.entry_price_paise, t.exit_ts.ToMilliseconds(), t.exit_price_paise,
                   t.gross_pnl_paise, t.charges_paise, t.net_pnl_paise, t.exit_reason)
                  for t in trades)


def assert_same_metrics(proto_metrics, result: BacktestResult) -> None:
    """Every metric the service reports equals the core's: money exactly, ratios to 1e-9."""
    m = metrics_of(result)
    exact = {"trades": m.trades, "net_pnl_paise": m.net_pnl_paise,
             "final_equity_paise": m.final_equity_paise, "charges_paise": m.charges_paise,
             "turnover_paise": m.turnover_paise,
             "max_drawdown_duration_bars": m.max_drawdown_bars,
             "expectancy_paise": round(m.expectancy_paise),
             "avg_win_paise": round(m.avg_win_paise), "avg_loss_paise": round(m.avg_loss_paise)}
    assert {k: getattr(proto_metrics, k) for k in exact} == exact
    for k in ("total_return", "cagr", "volatility", "sharpe", "sortino", "calmar",
              "max_drawdown", "win_rate", "profit_factor", "exposure"):
        assert getattr(proto_metrics, k) == pytest.approx(getattr(m, k), rel=1e-9, abs=1e-12), k


def assert_same_backtest(res, result: BacktestResult) -> None:
    """A GetBacktestResults response equals the local core run: trades, metrics, equity."""
    assert len(result.trades) > 0, "the reference run must trade, or nothing is compared"
    assert service_trades(res.trades) == core_trades(result)
    assert_same_metrics(res.metrics, result)
    assert [p.ts.ToMilliseconds() for p in res.equity] == (result.ts // 1_000_000).tolist()
    assert [p.equity_paise for p in res.equity] == result.equity_paise.tolist()


def rest_trades(trades: Iterable[dict]) -> list[tuple]:
    """The gateway's JSON trades (rupees, ISO times) back in the core's shape (paise, ms)."""
    def ms(text: str) -> int:
        return round(datetime.fromisoformat(text).timestamp() * 1000)

    def paise(rupees: float) -> int:
        return round(rupees * 100)

    return sorted((t["symbol"], t["side"], t["quantity"], ms(t["entry_time"]),
                   paise(t["entry_price"]), ms(t["exit_time"]), paise(t["exit_price"]),
                   paise(t["gross_pnl"]), paise(t["charges"]), paise(t["net_pnl"]),
                   t["exit_reason"]) for t in trades)
