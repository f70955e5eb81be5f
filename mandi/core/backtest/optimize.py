"""Parameter optimisation: grid search on every core, and walk-forward analysis.

Signal strategies run on the numba fast path (identical trades to the engine, much cheaper);
others run on the event engine. Workers are forked after the bars and the compiled fast path are
loaded, so neither is pickled nor recompiled per task. Invalid combinations (e.g. fast ≥ slow)
are skipped and counted, not fatal.

Walk-forward: rolling windows of `in_sample` bars followed by `out_of_sample` bars, stepping by
`out_of_sample`. The grid is searched in-sample; the winner trades the next out-of-sample window,
with the in-sample bars as indicator warm-up but no trading (`trade_from`, on both paths).
"""

from __future__ import annotations

import itertools
import math
import multiprocessing as mp
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mandi.core.backtest.data import Bars
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.backtest.fast import bar_arrays, run_fast_arrays
from mandi.core.backtest.metrics import Metrics, compute, exposure_from_indices, metrics_of
from mandi.core.errors import InvalidInput
from mandi.core.strategies.base import SignalStrategy
from mandi.core.strategies.registry import create, strategy_class


def grid(ranges: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of parameter ranges, in a stable order."""
    if not ranges:
        raise InvalidInput("no parameters to search", field="param_grid")
    names = list(ranges)
    values = []
    for n in names:
        v = list(ranges[n])
        if not v:
            raise InvalidInput(f"range of {n} is empty", field=n)
        values.append(v)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def fast_metrics(bars: Bars, strategy: SignalStrategy, cfg: BacktestConfig,
                 trade_from: int = 0, pre: dict | None = None) -> Metrics:
    """Metrics straight from the fast path's arrays (no Trade objects)."""
    out = run_fast_arrays(bars, strategy, cfg, trade_from, pre)
    t = out.trades
    ts, eq = bars.ts[trade_from:], out.equity_paise[trade_from:]
    initial = int(out.equity_paise[trade_from - 1]) if trade_from > 0 else \
        cfg.initial_capital_paise
    gross = t[:, 2] * t[:, 3] * (t[:, 5] - t[:, 4])
    net = gross - t[:, 6] - t[:, 7]
    return compute(ts, eq, initial, net, int(t[:, 6].sum() + t[:, 7].sum()),
                   int((t[:, 3] * (t[:, 4] + t[:, 5])).sum()),
                   exposure_from_indices(len(ts), t[:, 0] - trade_from, t[:, 1] - trade_from))


def evaluate(bars: Bars, type_name: str, params: dict[str, Any], cfg: BacktestConfig,
             trade_from: int = 0, pre: dict | None = None) -> Metrics:
    s = create(type_name, params)
    if isinstance(s, SignalStrategy):
        return fast_metrics(bars, s, cfg, trade_from, pre)
    return metrics_of(run_backtest(bars, s, cfg, trade_from), start=trade_from)


@dataclass(frozen=True)
class SweepRow:
    params: dict[str, Any]
    metrics: Metrics


@dataclass
class SweepResult:
    rows: list[SweepRow]  # best first
    skipped: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    objective: str = "sharpe"

    @property
    def best(self) -> SweepRow:
        if not self.rows:
            raise InvalidInput("no valid parameter combination", field="param_grid")
        return self.rows[0]


_WORK: dict[str, Any] = {}  # set in the parent before forking; read by workers


def _task(params: dict[str, Any]) -> tuple[dict[str, Any], Metrics | str]:
    w = _WORK
    try:
        return params, evaluate(w["bars"], w["type"], params, w["cfg"], w["trade_from"],
                                w["pre"])
    except InvalidInput as e:
        return params, f"{e.field}: {e.message}"


def _score(m: Metrics, objective: str) -> float:
    v = getattr(m, objective)
    if objective == "max_drawdown":
        v = -v
    return v if isinstance(v, int | float) and not math.isnan(v) else -math.inf


def grid_search(bars: Bars, type_name: str, param_grid: Mapping[str, Iterable[Any]],
                config: BacktestConfig | None = None, objective: str = "sharpe",
                processes: int | None = None, base_params: Mapping[str, Any] | None = None,
                trade_from: int = 0) -> SweepResult:
    cfg = config or BacktestConfig()
    cls = strategy_class(type_name)
    if objective not in Metrics.__dataclass_fields__:
        raise InvalidInput(f"unknown objective {objective!r}", field="objective")
    combos = [{**(base_params or {}), **p} for p in grid(param_grid)]
    pre = bar_arrays(bars, cfg) if issubclass(cls, SignalStrategy) else None
    _WORK.update(bars=bars, type=type_name, cfg=cfg, trade_from=trade_from, pre=pre)
    procs = min(processes or os.cpu_count() or 1, len(combos))
    if procs > 1 and issubclass(cls, SignalStrategy):
        _task(combos[0])  # compile/load the fast path once, before forking
    if procs <= 1:
        results = [_task(p) for p in combos]
    else:
        ctx = mp.get_context("fork")
        with ProcessPoolExecutor(procs, mp_context=ctx) as pool:
            results = list(pool.map(_task, combos,
                                    chunksize=max(1, len(combos) // (procs * 4))))
    rows = [SweepRow(p, m) for p, m in results if isinstance(m, Metrics)]
    rows.sort(key=lambda r: _score(r.metrics, objective), reverse=True)
    skipped = [(p, m) for p, m in results if isinstance(m, str)]
    return SweepResult(rows, skipped, objective)


@dataclass(frozen=True)
class WalkForwardWindow:
    in_sample_range: tuple[int, int]  # bar index range [start, stop)
    out_of_sample_range: tuple[int, int]
    best_params: dict[str, Any]
    in_sample_score: float
    oos_metrics: Metrics


@dataclass
class WalkForwardReport:
    windows: list[WalkForwardWindow]
    objective: str

    def summary(self) -> dict[str, Any]:
        """Out-of-sample totals across windows (each window starts from fresh capital)."""
        oos = [w.oos_metrics for w in self.windows]
        trades = sum(m.trades for m in oos)
        return {
            "windows": len(oos),
            "oos_trades": trades,
            "oos_net_pnl_paise": sum(m.net_pnl_paise for m in oos),
            "oos_charges_paise": sum(m.charges_paise for m in oos),
            "oos_mean_return": float(np.mean([m.total_return for m in oos])) if oos else 0.0,
            "oos_mean_sharpe": float(np.mean([m.sharpe for m in oos])) if oos else 0.0,
            "oos_win_rate": (sum(m.win_rate * m.trades for m in oos) / trades) if trades else 0.0,
            "oos_worst_drawdown": max((m.max_drawdown for m in oos), default=0.0),
        }


def walk_forward(bars: Bars, type_name: str, param_grid: Mapping[str, Iterable[Any]],
                 in_sample: int, out_of_sample: int, config: BacktestConfig | None = None,
                 objective: str = "sharpe", processes: int | None = None) -> WalkForwardReport:
    if in_sample < 2:
        raise InvalidInput("in-sample window must be at least 2 bars", field="in_sample")
    if out_of_sample < 1:
        raise InvalidInput("out-of-sample window must be at least 1 bar", field="out_of_sample")
    if in_sample + out_of_sample > len(bars):
        raise InvalidInput("windows are longer than the data", field="in_sample")
    cfg = config or BacktestConfig()
    windows = []
    start = 0
    while start + in_sample + out_of_sample <= len(bars):
        is_rng = (start, start + in_sample)
        oos_rng = (is_rng[1], is_rng[1] + out_of_sample)
        sweep = grid_search(bars.slice(*is_rng), type_name, param_grid, cfg, objective,
                            processes)
        best = sweep.best
        oos = evaluate(bars.slice(start, oos_rng[1]), type_name, best.params, cfg,
                       trade_from=in_sample)
        windows.append(WalkForwardWindow(is_rng, oos_rng, best.params,
                                         _score(best.metrics, objective), oos))
        start += out_of_sample
    return WalkForwardReport(windows, objective)
