"""The execution service's domain metrics, in the default Prometheus registry so the service's
`/metrics` endpoint (mandi.platform.telemetry) serves them beside the RPC RED metrics.

Quotes come from the marketdata service's tick stream; a REST quote from Kite is the fallback,
and Kite allows one quote call a second per API key. A steady rate of fallbacks means
marketdata is down, or instruments are not ticking — the reason label says which.
"""

from __future__ import annotations

from prometheus_client import Counter

# prometheus_client appends `_total` to counter names on export.
QUOTES_STREAMED = Counter(
    "mandi_execution_quotes_streamed",
    "Quotes answered from marketdata's tick stream.",
)
QUOTE_FALLBACKS = Counter(
    "mandi_execution_quote_fallbacks",
    "Quotes answered by Kite's REST quote API instead of marketdata's ticks, by reason "
    "(down: marketdata unreachable or its stream broken; stale: no tick for a few seconds; "
    "unknown: marketdata does not know or refused the instrument).",
    ["reason"],
)
POSTBACKS = Counter(
    "mandi_execution_postbacks",
    "Kite order postbacks received (relayed by marketdata, or on execution's own socket "
    "where it keeps one), by outcome (applied, bad_checksum, malformed).",
    ["outcome"],
)
