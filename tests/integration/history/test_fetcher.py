"""The fetcher against real PostgreSQL and kitesim over HTTP through the real kiteconnect client
(`kitesim_server`: in-process on a thread, rate limits off unless a test turns them on).

Intervals are chosen for few rows per request: kiteconnect parses every row's date with
dateutil (~0.2 ms a row), so a 60-day chunk of minute bars costs seconds of client CPU that
would prove nothing more here (the data API e2e test fetches a year of minutes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY

from mandi.core.candles import CandleFrame, to_ms
from mandi.core.clock import IST, TestClock
from mandi.core.errors import AuthError, InvalidInput
from mandi.core.intervals import parse_interval
from mandi.kite.client import KiteClient
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.testing.kitesim import KitesimServer, kitesim_server  # noqa: F401  (fixture)
from services.history import reader
from services.history.fetcher import Fetcher, FetchOptions, FetchProgress
from services.history.instruments import InstrumentRecord
from services.history.store import CandleStore

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "history" / "migrations"
NOW = datetime(2025, 1, 6, 12, 0, tzinfo=IST)  # the fetcher's clock; kitesim's is later
Q15 = parse_interval("15minute")
H1 = parse_interval("60minute")


def record_for(server: KitesimServer, exchange: str, symbol: str) -> InstrumentRecord:
    """The instrument as kitesim's dump lists it (via kiteconnect)."""
    row = next(i for i in server.kite().instruments(exchange) if i["tradingsymbol"] == symbol)
    return InstrumentRecord(row["instrument_token"], row["exchange_token"], exchange, symbol,
                            row["name"], row["segment"], row["instrument_type"],
                            row["expiry"] or None, round(row["strike"] * 100),
                            round(row["tick_size"] * 100), row["lot_size"], 0, "", True,
                            date(2025, 1, 6))


def served(server: KitesimServer, token: int, interval: str, start: date, end: date) -> int:
    """Bars kitesim serves for [start, end] (whole days), asked month by month with raw HTTP —
    not in the fetcher's chunks, so a boundary slip there shows here."""
    total, cur = 0, start
    while cur <= end:
        nxt = min(end, (cur.replace(day=28) + timedelta(days=4)).replace(day=1)
                  - timedelta(days=1))
        body = server.raw(f"/instruments/historical/{token}/{interval}"
                          f"?from={cur}+00:00:00&to={nxt}+23:59:59")
        total += len(body["data"]["candles"])
        cur = nxt + timedelta(days=1)
    return total


@pytest.fixture(scope="module")
def sim(kitesim_server: KitesimServer) -> Iterator[KitesimServer]:  # noqa: F811
    yield kitesim_server


@pytest_asyncio.fixture
async def kite(sim: KitesimServer) -> AsyncIterator[KiteClient]:
    client = KiteClient(sim.api_key, access_token=sim.access_token, root=sim.url)
    try:
        yield client
    finally:
        await client.close()


@pytest_asyncio.fixture
async def store(pg_dsn: str) -> AsyncIterator[CandleStore]:
    await run_migrations(pg_dsn, "history", MIGRATIONS)
    pool = await create_pool(pg_dsn, schema="history")
    try:
        yield CandleStore(pool)
    finally:
        await pool.close()


def make_fetcher(source: Any, store: CandleStore, **kw: Any) -> Fetcher:
    kw.setdefault("base_delay_s", 0.01)
    kw.setdefault("max_delay_s", 0.05)
    return Fetcher(source, store, TestClock(NOW), limiter=None, **kw)


async def test_fetch_when_year_incremental_then_repeat_then_hole_stores_exactly_missing(
    sim: KitesimServer, kite: KiteClient, store: CandleStore,
) -> None:
    fetcher = make_fetcher(kite, store)
    infy = record_for(sim, "NSE", "INFY")
    start, end = datetime(2024, 1, 1, tzinfo=IST), datetime(2024, 12, 31, 23, 59, tzinfo=IST)
    expected = served(sim, infy.instrument_token, "15minute", date(2024, 1, 1),
                      date(2024, 12, 31))

    first = await fetcher.fetch(infy, Q15, start, end, FetchOptions(incremental=True))
    assert first.records == expected > 6000
    assert await store.count(infy.instrument_token, "15minute") == expected
    assert first.requests == 2  # 200 days a request

    again = await fetcher.fetch(infy, Q15, start, end, FetchOptions(incremental=True))
    assert (again.records, again.requests) == (0, 0)

    hole_from, hole_to = datetime(2024, 6, 10, 11, 0, tzinfo=IST), datetime(2024, 6, 12, tzinfo=IST)
    deleted = await store.delete(infy.instrument_token, "15minute", hole_from, hole_to)
    assert deleted > 25
    refill = await fetcher.fetch(infy, Q15, start, end, FetchOptions(incremental=True))
    assert refill.records == deleted and refill.requests == 1
    assert await store.count(infy.instrument_token, "15minute") == expected


async def test_fetch_when_day_tail_incremental_retakes_last_bar_and_stops_at_to(
    sim: KitesimServer, kite: KiteClient, store: CandleStore,
) -> None:
    """Both planning rules of the incremental tail at once: the tail request takes the last
    stored bar back and overwrites it (a bar an older version stored while forming), and it is
    asked of Kite up to 1 ms before its exclusive end, so a day fetch to 2024-12-31 stores
    nothing of 2025 (the fetcher's clock, 2025-01-06, has Jan 1-3 2025 closed)."""
    fetcher = make_fetcher(kite, store)
    rel = record_for(sim, "NSE", "RELIANCE")
    token, day = rel.instrument_token, parse_interval("day")
    start, dec20 = datetime(2024, 1, 1, tzinfo=IST), datetime(2024, 12, 20, tzinfo=IST)
    # 2024 has 249 day bars (245 regular sessions + the calendar's 4 special ones, worked in
    # tests/integration/gateway/test_data_seed_contract.py); after Fri Dec 20 come Mon 23,
    # Tue 24, Thu 26, Fri 27, Mon 30, Tue 31 (Wed 25 a holiday): 6, so 249 − 6 = 243 up to Dec 20
    first = await fetcher.fetch(rel, day, start, dec20)
    assert first.records == 243
    (kite_dec20,) = sim.raw(f"/instruments/historical/{token}/day"
                            "?from=2024-12-20+00:00:00&to=2024-12-20+23:59:59")["data"]["candles"]
    _, o, h, lo, c, v = kite_dec20
    assert c != o  # else the partial bar below would equal the final one
    partial = CandleFrame.from_columns({"ts": [to_ms(dec20)], "open": [o], "high": [h],
                                        "low": [lo], "close": [o], "volume": [v // 2],
                                        "oi": [0]})
    assert await store.write(token, "day", partial, overwrite=True) == 1

    update = await fetcher.fetch(rel, day, start, datetime(2024, 12, 31, tzinfo=IST),
                                 FetchOptions(incremental=True))
    # one request, Dec 20 .. Dec 31 23:59:59.999: 6 new bars + Dec 20 changed = 7
    assert (update.requests, update.records) == (1, 7)
    assert await store.count(token, "day") == 249
    assert await store.count(token, "day", datetime(2025, 1, 1, tzinfo=IST), None) == 0
    got = await reader.read(store._pool, token, "day", dec20, dec20 + timedelta(seconds=1))
    assert (got.open[0], got.high[0], got.low[0], got.close[0], int(got.volume[0])) == (
        pytest.approx(o), pytest.approx(h), pytest.approx(lo), pytest.approx(c), v)


async def test_fetch_when_not_incremental_without_overwrite_keeps_and_counts_nothing_new(
    sim: KitesimServer, kite: KiteClient, store: CandleStore,
) -> None:
    fetcher = make_fetcher(kite, store)
    tcs = record_for(sim, "NSE", "TCS")
    start, end = datetime(2024, 3, 1, tzinfo=IST), datetime(2024, 3, 31, tzinfo=IST)
    first = await fetcher.fetch(tcs, Q15, start, end)
    second = await fetcher.fetch(tcs, Q15, start, end)
    assert first.records > 0 and second.records == 0 and second.requests == 1
    assert second.rows_fetched == first.rows_fetched


async def test_fetch_when_from_after_to_raises_naming_from_and_stores_nothing(
    sim: KitesimServer, kite: KiteClient, store: CandleStore,
) -> None:
    fetcher = make_fetcher(kite, store)
    infy = record_for(sim, "NSE", "INFY")
    with pytest.raises(InvalidInput) as err:
        await fetcher.fetch(infy, Q15, datetime(2024, 2, 1, tzinfo=UTC),
                            datetime(2024, 1, 1, tzinfo=UTC))
    assert err.value.field == "from"
    with pytest.raises(InvalidInput) as err:
        await fetcher.fetch(infy, Q15, datetime(2024, 1, 1, tzinfo=UTC),
                            datetime(2024, 1, 2, tzinfo=UTC), FetchOptions(continuous=True))
    assert err.value.field == "continuous"
    assert fetcher.stats.requests == 0
    assert await store.count(infy.instrument_token, "15minute") == 0


async def test_fetch_when_kitesim_answers_429_counts_retries_and_completes(
    sim: KitesimServer, kite: KiteClient, store: CandleStore,
) -> None:
    """A real 429 from kitesim's sliding window, through kiteconnect: counted as rate limited
    (the replica e2e test's "no 429" rests on this), retried with backoff, then stored."""
    fetcher = make_fetcher(kite, store, base_delay_s=0.5, max_delay_s=10.0)
    sbin = record_for(sim, "NSE", "SBIN")
    before = REGISTRY.get_sample_value("mandi_history_kite_rate_limited_total") or 0.0
    sim.admin("ratelimit", {"enabled": True})
    try:
        for _ in range(3):  # spend the second's three historical requests
            sim.raw(f"/instruments/historical/{sbin.instrument_token}/day"
                    "?from=2024-01-01+00:00:00&to=2024-01-05+23:59:59")
        summary = await fetcher.fetch(sbin, H1, datetime(2024, 1, 1, tzinfo=IST),
                                      datetime(2024, 1, 31, 23, 59, tzinfo=IST))
    finally:
        sim.admin("ratelimit", {"enabled": False})
    assert summary.records == served(sim, sbin.instrument_token, "60minute", date(2024, 1, 1),
                                     date(2024, 1, 31)) > 100
    assert fetcher.stats.rate_limited >= 1
    assert fetcher.stats.retries == fetcher.stats.rate_limited
    assert fetcher.stats.requests == fetcher.stats.rate_limited + 1
    after = REGISTRY.get_sample_value("mandi_history_kite_rate_limited_total")
    assert after - before == fetcher.stats.rate_limited


async def test_fetch_when_auth_error_fails_at_once_without_retry(
    sim: KitesimServer, store: CandleStore,
) -> None:
    bad = KiteClient(sim.api_key, access_token="not-a-token", root=sim.url)
    try:
        fetcher = make_fetcher(bad, store)
        with pytest.raises(AuthError):
            await fetcher.fetch(record_for(sim, "NSE", "SBIN"), H1,
                                datetime(2024, 1, 1, tzinfo=IST), datetime(2024, 6, 1, tzinfo=IST))
    finally:
        await bad.close()
    assert (fetcher.stats.requests, fetcher.stats.retries) == (1, 0)


async def test_fetch_when_progress_and_stop_reports_each_chunk_and_stops(
    sim: KitesimServer, kite: KiteClient, store: CandleStore,
) -> None:
    fetcher = make_fetcher(kite, store)
    seen: list[FetchProgress] = []

    def stop() -> bool:
        return len(seen) >= 2

    infy = record_for(sim, "NSE", "INFY")
    summary = await fetcher.fetch(infy, H1, datetime(2021, 1, 1, tzinfo=IST),
                                  datetime(2024, 12, 31, tzinfo=IST),
                                  on_progress=seen.append, should_stop=stop)
    assert summary.cancelled and summary.requests == 2
    assert [p.requests_done for p in seen] == [1, 2, 2]
    assert all(p.requests_total == 4 for p in seen)  # 400 days a request
    assert seen[0].eta_seconds == pytest.approx(3 / 3.0) and seen[-1].done
    assert seen[1].cursor is not None and seen[1].rows_stored == summary.records
    assert await store.count(infy.instrument_token, "60minute") == summary.records > 0
