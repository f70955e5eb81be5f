"""Mandi's Grafana dashboards as code: `python deploy/grafana/build_dashboards.py` writes
deploy/grafana/dashboards/*.json (checked in; the chart ships each as a ConfigMap labelled
grafana_dashboard: "1"). Edit here, regenerate, commit both; tests/deploy/test_observability.py
checks the JSON is this script's output and that every PromQL names only metrics the services
export.
"""

# ruff: noqa: E501  (a PromQL expression reads best on one line)
from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}


def panel(pid, title, exprs, unit="short", kind="timeseries", x=0, y=0, w=12, h=8, desc=""):
    targets = [{"datasource": DS, "expr": e, "legendFormat": lf, "refId": chr(65 + i)}
               for i, (e, lf) in enumerate(exprs)]
    p = {"id": pid, "type": kind, "title": title, "datasource": DS, "targets": targets,
         "gridPos": {"x": x, "y": y, "w": w, "h": h},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}}
    if desc:
        p["description"] = desc
    if kind == "timeseries":
        p["options"] = {"legend": {"displayMode": "table", "placement": "bottom",
                                   "calcs": ["lastNotNull", "max"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}}
    return p


def dashboard(uid, title, desc, rows):
    panels, pid, y = [], 1, 0
    for row in rows:
        w = 24 // len(row)
        for i, spec in enumerate(row):
            title_, exprs, unit, *rest = spec
            kind = rest[0] if rest else "timeseries"
            d = rest[1] if len(rest) > 1 else ""
            panels.append(panel(pid, title_, exprs, unit, kind, x=i * w, y=y, w=w,
                                h=5 if kind == "stat" else 8, desc=d))
            pid += 1
        y += 5 if all((s[3] if len(s) > 3 else "") == "stat" for s in row) else 8
    return {
        "uid": uid, "title": title, "description": desc, "tags": ["mandi"],
        "editable": False, "schemaVersion": 39, "version": 1, "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"}, "timezone": "browser",
        "templating": {"list": [{"name": "datasource", "type": "datasource",
                                 "query": "prometheus", "label": "Data source"}]},
        "annotations": {"list": []}, "panels": panels,
    }


R = "[$__rate_interval]"
# every dashboard by file name (without .json)
BOARDS = {
"platform-overview": dashboard("mandi-overview", "Mandi / Platform overview",
  "RED per service (gRPC) and per gateway route (HTTP): rate, errors, duration.", [
  [("Targets up", [("sum by (job) (up)", "{{job}}")], "short", "stat",
    "1 per scraped process; 0 means Prometheus cannot reach it."),
   ("gRPC calls in flight", [("sum by (service) (mandi_rpc_in_flight)", "{{service}}")], "short", "stat"),
   ("HTTP requests in flight", [("sum(mandi_http_requests_in_flight)", "gateway")], "short", "stat")],
  [("gRPC requests / s by service", [(f"sum by (service) (rate(mandi_rpc_requests_total{R}))", "{{service}}")], "reqps"),
   ("gRPC errors / s by service and code", [(f'sum by (service, code) (rate(mandi_rpc_requests_total{{code!="OK"}}{R}))', "{{service}} {{code}}")], "reqps")],
  [("gRPC p95 duration by service", [(f"histogram_quantile(0.95, sum by (service, le) (rate(mandi_rpc_duration_seconds_bucket{R})))", "{{service}}")], "s"),
   ("gRPC p95 duration by method", [(f"histogram_quantile(0.95, sum by (method, le) (rate(mandi_rpc_duration_seconds_bucket{R})))", "{{method}}")], "s")],
  [("HTTP requests / s by route", [(f"sum by (method, route) (rate(mandi_http_requests_total{R}))", "{{method}} {{route}}")], "reqps"),
   ("HTTP errors / s by route (4xx, 5xx)", [(f'sum by (route, status) (rate(mandi_http_requests_total{{status=~"[45].."}}{R}))', "{{route}} {{status}}")], "reqps")],
  [("HTTP p95 duration by route", [(f"histogram_quantile(0.95, sum by (route, le) (rate(mandi_http_request_duration_seconds_bucket{R})))", "{{route}}")], "s"),
   ("WebSocket connections by channel", [("sum by (channel) (mandi_ws_connections)", "{{channel}}")], "short")],
]),
"market-data": dashboard("mandi-marketdata", "Mandi / Market data",
  "The KiteTicker ingester (one active per API key) and the tick/candle fan-out.", [
  [("Ticks received / s", [(f"sum(rate(mandi_marketdata_ticks_received_total{R}))", "ingested")], "short"),
   ("Tick lag p50 / p95 (receive − exchange time)", [
     (f"histogram_quantile(0.5, sum by (le) (rate(mandi_marketdata_tick_lag_seconds_bucket{R})))", "p50"),
     (f"histogram_quantile(0.95, sum by (le) (rate(mandi_marketdata_tick_lag_seconds_bucket{R})))", "p95")], "s")],
  [("Ticker reconnects by reason (1 h)", [("sum by (reason) (increase(mandi_marketdata_reconnects_total[1h]))", "{{reason}}")], "short"),
   ("Gaps filled / unfilled (1 h)", [
     ("sum(increase(mandi_marketdata_gaps_filled_total[1h]))", "filled"),
     ("sum(increase(mandi_marketdata_gaps_unfilled_total[1h]))", "unfilled")], "short")],
  [("Candles emitted / min by source", [("sum by (source) (rate(mandi_marketdata_candles_emitted_total[5m])) * 60", "{{source}}")], "short"),
   ("Hub ticks / s by replica", [(f"sum by (instance) (rate(mandi_marketdata_hub_ticks_total{R}))", "{{instance}}")], "short")],
  [("Stream subscribers", [("sum by (stream) (mandi_marketdata_stream_subscribers)", "{{stream}}")], "short"),
   ("Subscriber queue depth / ingest backlog", [("sum by (stream) (mandi_marketdata_queue_depth)", "{{stream}}"),
                                                ("sum(mandi_marketdata_ingest_backlog_ticks)", "ingest backlog (ticks)")], "short"),
   ("Conflated ticks / slow disconnects (1 h)", [
     ("sum(increase(mandi_marketdata_conflated_ticks_total[1h]))", "conflated"),
     ("sum(increase(mandi_marketdata_slow_subscriber_disconnects_total[1h]))", "slow disconnects"),
     ("sum(increase(mandi_marketdata_shed_ticks_total[1h]))", "shed (ingest backlog)")], "short")],
]),
"history": dashboard("mandi-history", "Mandi / History",
  "Kite historical-data fetches: requests, 429s, rows stored, jobs.", [
  [("Kite requests / s", [(f"sum(rate(mandi_history_kite_requests_total{R}))", "requests"),
                          (f"sum(rate(mandi_history_kite_retries_total{R}))", "retries")], "reqps"),
   ("Kite 429s (1 h)", [("sum(increase(mandi_history_kite_rate_limited_total[1h]))", "429")], "short",
    "timeseries", "Every replica shares one 3 req/s budget per API key: any 429 means the shared limiter is misconfigured or another client spends the key.")],
  [("Rows stored / s by segment", [(f"sum by (segment) (rate(mandi_history_rows_stored_total{R}))", "{{segment}}")], "short"),
   ("Rows rejected by validation (1 h)", [("sum(increase(mandi_history_rows_invalid_total[1h]))", "invalid")], "short")],
  [("Job items ended by state (1 h)", [("sum by (state) (increase(mandi_history_job_items_total[1h]))", "{{state}}")], "short"),
   ("History RPC p95 by method", [(f'histogram_quantile(0.95, sum by (method, le) (rate(mandi_rpc_duration_seconds_bucket{{service="history"}}{R})))', "{{method}}")], "s")],
]),
"execution": dashboard("mandi-execution", "Mandi / Execution",
  "Orders through the execution service: status changes, pre-trade rejections by rule, PlaceOrder latency, today's P&L and daily loss per account, quotes, postbacks.", [
  [("Loss limit latched (1 = new positions refused today)", [("max by (account) (mandi_execution_daily_loss_latched)", "{{account}}")], "short", "stat",
    "Set by the account's daily loss limit; MandiDailyLossLatched fires while it is 1."),
   ("Daily loss used (% of limit)", [("100 * max by (account) (mandi_execution_daily_loss_used_paise) / max by (account) (mandi_execution_daily_loss_limit_paise)", "{{account}}")], "percent", "stat",
    "Realised loss plus open positions marked to market, against the account's limit; 100% latches the day.")],
  [("Orders / s by status", [(f"sum by (status) (rate(mandi_execution_orders_total{R}))", "{{status}}")], "short",
    "timeseries", "Status changes: a new order counts as PENDING, then once per forward move (OPEN, COMPLETE, REJECTED by the broker, …)."),
   ("Rejections by rule (1 h)", [("sum by (rule) (increase(mandi_execution_order_rejections_total[1h]))", "{{rule}}")], "short",
    "timeseries", "Orders refused before the broker, by the risk rule (or the malformed field) that refused them.")],
  [("P&L today by account (₹)", [("sum by (account, kind) (mandi_execution_pnl_paise) / 100", "{{account}} {{kind}}")], "currencyINR",
    "timeseries", "realized: booked round trips net of charges; mtm: open positions marked to market."),
   ("Daily loss used vs limit (₹)", [
     ("max by (account) (mandi_execution_daily_loss_used_paise) / 100", "{{account}} used"),
     ("max by (account) (mandi_execution_daily_loss_limit_paise) / 100", "{{account}} limit")], "currencyINR")],
  [("PlaceOrder p50 / p95 / p99", [
     (f'histogram_quantile(0.5, sum by (le) (rate(mandi_rpc_duration_seconds_bucket{{service="execution",method="mandi.v1.ExecutionService/PlaceOrder"}}{R})))', "p50"),
     (f'histogram_quantile(0.95, sum by (le) (rate(mandi_rpc_duration_seconds_bucket{{service="execution",method="mandi.v1.ExecutionService/PlaceOrder"}}{R})))', "p95"),
     (f'histogram_quantile(0.99, sum by (le) (rate(mandi_rpc_duration_seconds_bucket{{service="execution",method="mandi.v1.ExecutionService/PlaceOrder"}}{R})))', "p99")], "s"),
   ("Execution calls / s by method and gRPC status", [(f'sum by (method, code) (rate(mandi_rpc_requests_total{{service="execution"}}{R}))', "{{method}} {{code}}")], "reqps")],
  [("Bot orders by outcome (1 h)", [("sum by (outcome) (increase(mandi_bot_orders_total[1h]))", "{{outcome}}")], "short"),
   ("Quotes: streamed vs REST fallbacks / s", [
     (f"sum(rate(mandi_execution_quotes_streamed_total{R}))", "streamed"),
     (f"sum by (reason) (rate(mandi_execution_quote_fallbacks_total{R}))", "fallback {{reason}}")], "short"),
   ("Postbacks by outcome (1 h)", [("sum by (outcome) (increase(mandi_execution_postbacks_total[1h]))", "{{outcome}}")], "short")],
]),
"strategy": dashboard("mandi-strategy", "Mandi / Strategy",
  "Bots (live) and backtests.", [
  [("Bots running", [("sum(mandi_bots_running)", "bots")], "short", "stat"),
   ("Backtests running", [("sum(mandi_backtests_running)", "backtests")], "short", "stat"),
   ("Last backtest throughput", [("max(mandi_backtest_bars_per_second)", "bars/s")], "short", "stat")],
  [("Bot bars processed / min", [("sum(rate(mandi_bot_bars_total[5m])) * 60", "bars")], "short"),
   ("Signals by source and outcome (1 h)", [("sum by (source, outcome) (increase(mandi_bot_signals_total[1h]))", "{{source}} {{outcome}}")], "short")],
  [("Signal → order p95", [
     (f"histogram_quantile(0.95, sum by (le) (rate(mandi_bot_signal_to_order_seconds_bucket{R})))", "strategy"),
     (f"histogram_quantile(0.95, sum by (le) (rate(mandi_bot_external_signal_to_order_seconds_bucket{R})))", "external")], "s"),
   ("Bot errors and log records (1 h)", [
     ("sum(increase(mandi_bot_errors_total[1h]))", "bots errored"),
     ("sum by (level) (increase(mandi_bot_log_records_total[1h]))", "log {{level}}")], "short")],
  [("Backtests settled by state (1 h)", [("sum by (state) (increase(mandi_backtests_total[1h]))", "{{state}}")], "short"),
   ("Backtest bars simulated / s", [("sum(rate(mandi_backtest_bars_total[5m]))", "bars/s")], "short"),
   ("Backtest p95 duration", [("histogram_quantile(0.95, sum by (le) (rate(mandi_backtest_duration_seconds_bucket[15m])))", "p95")], "s")],
]),
}


def render(board: dict) -> str:
    return json.dumps(board, indent=2) + "\n"


def main() -> None:
    for name, board in BOARDS.items():
        (OUT / f"{name}.json").write_text(render(board))


if __name__ == "__main__":
    main()
