"""The marketdata service's domain metrics, in the default Prometheus registry so the service's
`/metrics` endpoint (mandi.platform.telemetry) serves them beside the RPC RED metrics.

Counters are per process; a dashboard sums them over replicas. Ingest figures (ticks received,
lag, reconnects, gaps, candles) move only on the replica holding the ingest lease; fan-out
figures (hub ticks, subscribers, queues, conflation, slow disconnects) move on every replica.
The ingester's parts increment the ingest ones; the names are defined here, once.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# --- ingest (lease holder) -------------------------------------------------------------------
# prometheus_client appends `_total` to counter names on export.
TICKS_RECEIVED = Counter(
    "mandi_marketdata_ticks_received",
    "Ticks decoded from KiteTicker sockets by this replica's ingester.",
)
TICK_LAG = Histogram(
    "mandi_marketdata_tick_lag_seconds",
    "Receive time minus exchange timestamp of full-mode ticks (exchange time has 1 s"
    " resolution, so the floor of this histogram is about half a second).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0),
)
RECONNECTS = Counter(
    "mandi_marketdata_reconnects",
    "Ticker socket reconnect attempts, by the reason the previous socket ended"
    " (dropped, stalled, auth, limit).",
    ["reason"],
)
GAPS_FILLED = Counter(
    "mandi_marketdata_gaps_filled",
    "Minute ranges the feed missed that were backfilled from Kite's historical API.",
)
GAPS_UNFILLED = Counter(
    "mandi_marketdata_gaps_unfilled",
    "Minute ranges the backfill could not fill; reported in the candle stream as gaps.",
)
CANDLES_EMITTED = Counter(
    "mandi_marketdata_candles_emitted",
    "Closed candles appended to the candle log, by source (ticks, history). A bar another"
    " replica had logged already is not counted.",
    ["source"],
)

INGEST_BACKLOG = Gauge(
    "mandi_marketdata_ingest_backlog_ticks",
    "Ticks read off the ticker sockets that the ingester has not processed yet.",
)
SHED_TICKS = Counter(
    "mandi_marketdata_shed_ticks",
    "Ticks dropped because the ingest backlog passed its high mark; the minutes they fell in"
    " are backfilled from history.",
)

# --- fan-out (every replica) -----------------------------------------------------------------
HUB_TICKS = Counter(
    "mandi_marketdata_hub_ticks",
    "Ticks this replica's hub read from the Redis tick channel.",
)
STREAM_SUBSCRIBERS = Gauge(
    "mandi_marketdata_stream_subscribers",
    "Open StreamTicks / StreamCandles calls on this replica.",
    ["stream"],
)
QUEUE_DEPTH = Gauge(
    "mandi_marketdata_queue_depth",
    "Entries waiting in subscriber queues on this replica (tick batches or candles), summed.",
    ["stream"],
)
CONFLATED_TICKS = Counter(
    "mandi_marketdata_conflated_ticks",
    "Ticks skipped for slow tick subscribers because a newer tick of the instrument"
    " replaced them (reported to the subscriber as `dropped`).",
)
SLOW_DISCONNECTS = Counter(
    "mandi_marketdata_slow_subscriber_disconnects",
    "Candle streams ended with RESOURCE_EXHAUSTED because their queue overflowed.",
)


def observe_ticks(batch, now: float) -> None:
    """Count a decoded batch and sample its lag: market-clock now minus the exchange
    timestamp, for at most 64 evenly spaced full-mode ticks per batch (observing every tick
    would cost more than decoding it)."""
    TICKS_RECEIVED.inc(len(batch))
    stamped = batch.exchange_ts[batch.exchange_ts > 0]
    if not len(stamped):
        return
    step = max(1, len(stamped) // 64)
    for ts in stamped[::step]:
        TICK_LAG.observe(max(0.0, now - float(ts)))
