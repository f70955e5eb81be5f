"""Domain metrics: one fetch moves the Prometheus counters by exactly what its FetchStats and
FetchSummary count (requests, 429s, retries, rows stored by segment, rows invalid)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY

from mandi.core.candles import CandleFrame
from mandi.core.clock import IST, TestClock
from mandi.core.errors import RateLimited
from mandi.core.intervals import parse_interval
from services.history.fetcher import Fetcher, FetchOptions
from services.history.instruments import InstrumentRecord

NOW = datetime(2025, 1, 8, 18, 0, tzinfo=IST)
SESSION = datetime(2025, 1, 6, 9, 15, tzinfo=IST)  # a Monday
NAMES = ("mandi_history_kite_requests_total", "mandi_history_kite_rate_limited_total",
         "mandi_history_kite_retries_total", "mandi_history_rows_invalid_total")


class OneSessionKite:
    """Kite's minute bars of one session; the first `refuse` calls are 429s, and the bar at
    10:00 has high < low (validation drops it)."""

    def __init__(self, refuse: int) -> None:
        self.refuse = refuse
        self.calls = 0

    async def historical_candles(self, token: int, start: datetime, end: datetime,
                                 interval: str, **kw: Any) -> CandleFrame:
        self.calls += 1
        if self.calls <= self.refuse:
            raise RateLimited("kite rate limit hit (HTTP 429): Too many requests")
        rows = []
        for i in range(375):
            ts = SESSION + timedelta(minutes=i)
            if start <= ts <= end:
                high, low = (99.0, 101.0) if ts.hour == 10 and ts.minute == 0 else (101.0, 99.0)
                rows.append({"date": ts, "open": 100.0, "high": high, "low": low,
                             "close": 100.0, "volume": 10})
        return CandleFrame.from_kite(rows)


class MemoryStore:
    async def write(self, token: int, interval: str, frame: Any, *, overwrite: bool) -> int:
        return len(frame)

    async def stored_timestamps(self, *args: Any, **kw: Any) -> list[int]:
        return []


def record(exchange: str) -> InstrumentRecord:
    return InstrumentRecord(1, 1, exchange, "X", "X", exchange, "EQ", None, 0, 5, 1, 0, "",
                            True, date(2025, 1, 6))


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_fetch_when_429_then_invalid_bar_moves_every_counter_by_what_it_counted() -> None:
    before = {n: sample(n) for n in NAMES}
    stored_before = sample("mandi_history_rows_stored_total", segment="EQUITY")
    fetcher = Fetcher(OneSessionKite(refuse=2), MemoryStore(), TestClock(NOW), limiter=None,
                      base_delay_s=0.001, max_delay_s=0.002)

    summary = await fetcher.fetch(record("NSE"), parse_interval("minute"), SESSION,
                                  SESSION + timedelta(hours=7), FetchOptions())

    assert (summary.records, summary.rows_invalid) == (374, 1)
    delta = {n: sample(n) - before[n] for n in NAMES}
    assert delta == {"mandi_history_kite_requests_total": 3,
                     "mandi_history_kite_rate_limited_total": 2,
                     "mandi_history_kite_retries_total": 2,
                     "mandi_history_rows_invalid_total": 1}
    assert (fetcher.stats.requests, fetcher.stats.rate_limited, fetcher.stats.retries) == (3, 2, 2)
    assert sample("mandi_history_rows_stored_total", segment="EQUITY") - stored_before == 374


async def test_fetch_when_derivative_counts_stored_rows_under_derivatives_segment() -> None:
    eq_before = sample("mandi_history_rows_stored_total", segment="EQUITY")
    fo_before = sample("mandi_history_rows_stored_total", segment="DERIVATIVES")
    fetcher = Fetcher(OneSessionKite(refuse=0), MemoryStore(), TestClock(NOW), limiter=None,
                      validator=None)

    summary = await fetcher.fetch(record("NFO"), parse_interval("minute"), SESSION,
                                  SESSION + timedelta(hours=7), FetchOptions(validate=False))

    assert summary.records == 375
    assert sample("mandi_history_rows_stored_total", segment="DERIVATIVES") - fo_before == 375
    assert sample("mandi_history_rows_stored_total", segment="EQUITY") == eq_before
