"""A running backtest's results so far (services/strategy/partial.py): taken at each progress
tick from the engine's own book, they agree with the finished run up to that bar, and the
sampled curve stays bounded however long the run."""

from __future__ import annotations

import pytest

from mandi.core.backtest.data import random_walk_bars
from services.strategy import library, partial
from services.strategy.partial import PartialResults, partial_proto
from tests.unit.strategy_service.test_definitions import spec

BARS = 20_000


def _run(taken: list[partial.Partial]) -> tuple[PartialResults, object]:
    bars = random_walk_bars(BARS, seed=7, symbol="NSE:X")
    results = PartialResults()

    def tick(n: int) -> None:
        if results.latest is not None:
            taken.append(results.latest)
    result = library.run({"NSE:X": bars}, lambda _: library.build(
        "ema_crossover", {"fast": 5, "slow": 20}, None), library.config_of(spec()), tick,
        results)
    return results, result


def test_partial_when_ticks_pass_agrees_with_the_finished_run_so_far():
    taken: list[partial.Partial] = []
    results, result = _run(taken)
    last = results.latest
    assert last is not None and last.bars_done == BARS // library.PROGRESS_EVERY_BARS * \
        library.PROGRESS_EVERY_BARS
    mid = taken[-1]  # a tick before the end (whose square-off the run books afterwards)
    done = [t for t in result.trades if t.exit_ts <= mid.ts_ns]
    assert mid.trades == len(done) > 0
    assert mid.net_pnl_paise == sum(t.net_pnl_paise for t in done)
    i = int((result.ts <= mid.ts_ns).sum()) - 1  # the finished curve at that bar
    assert mid.equity_paise == int(result.equity_paise[i])
    assert [p.bars_done for p in taken] == sorted(p.bars_done for p in taken)
    msg = partial_proto(last)
    assert msg.trades == last.trades and len(msg.recent_trades) == min(last.trades, 20)
    assert msg.recent_trades[-1].net_pnl_paise == result.trades[last.trades - 1].net_pnl_paise
    assert len(msg.equity) == BARS // library.PROGRESS_EVERY_BARS


def test_partial_when_the_curve_fills_keeps_every_other_point(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(partial, "MAX_POINTS", 4)
    results, _ = _run([])
    assert results.latest is not None
    curve = results.latest.curve
    assert 2 <= len(curve) <= 4
    assert [ts for ts, _ in curve] == sorted(ts for ts, _ in curve)
