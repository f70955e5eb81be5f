"""The history service's domain metrics, in the default Prometheus registry so the service's
`/metrics` endpoint (mandi.platform.telemetry) serves them beside the RPC RED metrics.

Counters are per process: a dashboard sums them over replicas. Kite requests and 429s are the
figures that matter operationally — every replica shares one 3 req/s budget per API key, so a
non-zero `mandi_history_kite_rate_limited_total` means the shared limiter is misconfigured (or
another client is spending the same key).
"""

from __future__ import annotations

from prometheus_client import Counter

# prometheus_client appends `_total` to counter names on export.
KITE_REQUESTS = Counter(
    "mandi_history_kite_requests",
    "Kite historical-data requests sent (each attempt, retries included).",
)
KITE_RATE_LIMITED = Counter(
    "mandi_history_kite_rate_limited",
    "Kite historical-data requests answered with HTTP 429 / RateLimited.",
)
KITE_RETRIES = Counter(
    "mandi_history_kite_retries",
    "Kite historical-data requests retried after a RateLimited or temporary error.",
)
ROWS_STORED = Counter(
    "mandi_history_rows_stored",
    "Bars written to the OHLCV store by fetches, by storage segment (EQUITY, DERIVATIVES).",
    ["segment"],
)
ROWS_INVALID = Counter(
    "mandi_history_rows_invalid",
    "Bars Kite returned that validation rejected (not stored).",
)
JOB_ITEMS = Counter(
    "mandi_history_job_items",
    "Job items this replica's workers brought to an end, by final state (done, failed,"
    " cancelled while running). Items reclaimed by another replica are not counted here.",
    ["state"],
)
