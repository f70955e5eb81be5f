"""Backtesting: one event-driven engine, one numba fast path, the same trades from both.

Entry points: `engine.run_backtest(bars_or_dict, strategy_or_factory, BacktestConfig)`,
`fast.run_fast(bars, signal_strategy, BacktestConfig)` (and `run_fast_arrays` for sweeps),
`metrics.metrics_of(result)`, `report.trade_log_csv(result.trades)`,
`optimize.grid_search(...)` and `optimize.walk_forward(...)`.
"""
