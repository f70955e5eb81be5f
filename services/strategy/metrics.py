"""Domain metrics of the strategy service (RED metrics of its RPCs come from the platform)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BACKTESTS = Counter("mandi_backtests_total", "Backtest jobs settled, by final state.", ["state"])
BACKTEST_BARS = Counter("mandi_backtest_bars_total", "Bars simulated by finished backtests.")
BACKTEST_SECONDS = Histogram(
    "mandi_backtest_duration_seconds", "Wall time of one backtest attempt, claim to settle.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800))
BACKTEST_BARS_PER_SECOND = Gauge(
    "mandi_backtest_bars_per_second", "Throughput of the last finished backtest.")
BACKTESTS_RUNNING = Gauge("mandi_backtests_running", "Backtests this process is running now.")
SANDBOX_FAILURES = Counter(
    "mandi_sandbox_failures_total", "Custom strategy runs ended by the sandbox, by reason.",
    ["reason"])

BOTS_HELD = Gauge("mandi_bots_running", "Bots whose lease this replica holds (running or paused).")
BOT_BARS = Counter("mandi_bot_bars_total", "Closed candles bots processed live (not replays).")
BOT_ORDERS = Counter("mandi_bot_orders_total", "Orders bots sent, by outcome.", ["outcome"])
BOT_ERRORS = Counter("mandi_bot_errors_total", "Bots stopped with status error.")
BOT_SIGNAL_TO_ORDER = Histogram(
    "mandi_bot_signal_to_order_seconds",
    "Candle received → order acknowledged by execution (state saved in between).",
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
BOT_SIGNALS = Counter(
    "mandi_bot_signals_total", "Signals bots acted on, by source (strategy, external) and "
    "outcome (order, refused, rejected, no_change, paused).", ["source", "outcome"])
BOT_EXTERNAL_SIGNAL_TO_ORDER = Histogram(
    "mandi_bot_external_signal_to_order_seconds",
    "External signal received by the strategy service → order acknowledged by execution.",
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
BOT_LOG_RECORDS = Counter("mandi_bot_log_records_total", "Per-bot log records stored, by level.",
                          ["level"])
