"""The fetcher against real PostgreSQL and kitesim's historical engine.

kitesim's HTTP app had not landed when these were written, so `SimHistorical` calls kitesim's
own candle generator (`services.kitesim.historical.candles`, the code behind
/instruments/historical) through the same IST string encoding and kiteconnect's own row
formatter, and applies kitesim's own sliding-window rate limiter. Swap it for a KiteClient on
the kitesim fixture once `mandi.testing.kitesim` exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kiteconnect import KiteConnect

from mandi.core.clock import IST, TestClock
from mandi.core.errors import AuthError, InvalidInput, RateLimited
from mandi.core.intervals import parse_interval
from mandi.kite.client import kite_time
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from services.history.fetcher import Fetcher, FetchOptions, FetchProgress
from services.history.instruments import InstrumentRecord
from services.history.planner import plan_chunks
from services.history.store import CandleStore
from services.kitesim import historical
from services.kitesim.market import Market
from services.kitesim.ratelimit import RateLimiter

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "history" / "migrations"
SIM_NOW = datetime(2025, 1, 6, 12, 0, tzinfo=IST)
MINUTE = parse_interval("minute")
_MARKET: Market | None = None


def sim_market() -> Market:
    global _MARKET
    if _MARKET is None:
        _MARKET = Market(42, date(2025, 1, 6))
    return _MARKET


class SimHistorical:
    """kitesim's historical endpoint minus HTTP (see module docstring)."""

    def __init__(self, *, limit: bool = False, now: datetime = SIM_NOW,
                 fail_first: int = 0, error: Exception | None = None) -> None:
        self.market = sim_market()
        self.limiter = RateLimiter(enabled=limit)
        self.now = now
        self.calls = 0
        self.rejected = 0
        self._fail_first = fail_first
        self._error = error

    def count(self, token: int, interval: str, start: datetime, end: datetime) -> int:
        return len(self._rows(token, interval, start, end, False))

    def _rows(self, token: int, interval: str, start: datetime, end: datetime,
              oi: bool) -> list[list[Any]]:
        inst = self.market.universe.by_token[token]
        frm = historical.parse_when(kite_time(start), "from")
        to = historical.parse_when(kite_time(end), "to", end_of_day=True)
        return historical.candles(self.market.model, inst, interval, frm, to, self.now,
                                  with_oi=oi)

    async def historical_data(self, instrument_token: int, start: datetime, end: datetime,
                              interval: str, *, continuous: bool = False,
                              oi: bool = False) -> list[dict[str, Any]]:
        self.calls += 1
        if self._error is not None:
            raise self._error
        if self.calls <= self._fail_first or not self.limiter.allow("k", "historical"):
            self.rejected += 1
            raise RateLimited("kite rate limit hit (HTTP 429): Too many requests")
        rows = await asyncio.to_thread(self._rows, instrument_token, interval, start, end, oi)
        return KiteConnect("k")._format_historical({"candles": rows})


def record_for(exchange: str, symbol: str) -> InstrumentRecord:
    i = sim_market().universe.get(exchange, symbol)
    assert i is not None
    return InstrumentRecord(i.token, i.exchange_token, i.exchange, i.tradingsymbol, i.name,
                            i.segment, i.instrument_type, i.expiry, i.strike, i.tick,
                            i.lot_size, 0, "", True, date(2025, 1, 6))


@pytest_asyncio.fixture
async def store(pg_dsn: str) -> AsyncIterator[CandleStore]:
    await run_migrations(pg_dsn, "history", MIGRATIONS)
    pool = await create_pool(pg_dsn, schema="history")
    try:
        yield CandleStore(pool)
    finally:
        await pool.close()


def make_fetcher(source: SimHistorical, store: CandleStore, **kw: Any) -> Fetcher:
    kw.setdefault("base_delay_s", 0.01)
    kw.setdefault("max_delay_s", 0.05)
    return Fetcher(source, store, TestClock(SIM_NOW), limiter=None, **kw)


async def test_fetch_when_year_of_minutes_then_repeat_then_hole_stores_exactly_missing(
    store: CandleStore,
) -> None:
    source = SimHistorical()
    fetcher = make_fetcher(source, store)
    infy = record_for("NSE", "INFY")
    start, end = datetime(2024, 1, 1, tzinfo=IST), datetime(2024, 12, 31, 23, 59, tzinfo=IST)
    expected = sum(source.count(infy.instrument_token, "minute", c.start, c.end)
                   for c in plan_chunks(MINUTE, start, end))

    first = await fetcher.fetch(infy, MINUTE, start, end, FetchOptions(incremental=True))
    assert first.records == expected > 90_000
    assert await store.count(infy.instrument_token, "minute") == expected
    assert first.requests == 7

    again = await fetcher.fetch(infy, MINUTE, start, end, FetchOptions(incremental=True))
    assert (again.records, again.requests) == (0, 0)

    hole_from, hole_to = datetime(2024, 6, 10, 11, 0, tzinfo=IST), datetime(2024, 6, 12, tzinfo=IST)
    deleted = await store.delete(infy.instrument_token, "minute", hole_from, hole_to)
    assert deleted > 375
    refill = await fetcher.fetch(infy, MINUTE, start, end, FetchOptions(incremental=True))
    assert refill.records == deleted and refill.requests == 1
    assert await store.count(infy.instrument_token, "minute") == expected


async def test_fetch_when_not_incremental_without_overwrite_keeps_and_counts_nothing_new(
    store: CandleStore,
) -> None:
    fetcher = make_fetcher(SimHistorical(), store)
    tcs = record_for("NSE", "TCS")
    start, end = datetime(2024, 3, 1, tzinfo=IST), datetime(2024, 3, 31, tzinfo=IST)
    first = await fetcher.fetch(tcs, parse_interval("15minute"), start, end)
    second = await fetcher.fetch(tcs, parse_interval("15minute"), start, end)
    assert first.records > 0 and second.records == 0 and second.requests == 1
    assert second.rows_fetched == first.rows_fetched


async def test_fetch_when_from_after_to_raises_naming_from_and_stores_nothing(
    store: CandleStore,
) -> None:
    source = SimHistorical()
    fetcher = make_fetcher(source, store)
    infy = record_for("NSE", "INFY")
    with pytest.raises(InvalidInput) as err:
        await fetcher.fetch(infy, MINUTE, datetime(2024, 2, 1, tzinfo=UTC),
                            datetime(2024, 1, 1, tzinfo=UTC))
    assert err.value.field == "from"
    with pytest.raises(InvalidInput) as err:
        await fetcher.fetch(infy, parse_interval("minute"), datetime(2024, 1, 1, tzinfo=UTC),
                            datetime(2024, 1, 2, tzinfo=UTC), FetchOptions(continuous=True))
    assert err.value.field == "continuous"
    assert source.calls == 0
    assert await store.count(infy.instrument_token, "minute") == 0


async def test_fetch_when_kite_returns_429_retries_with_backoff_and_completes(
    store: CandleStore,
) -> None:
    source = SimHistorical(fail_first=2)
    fetcher = make_fetcher(source, store)
    summary = await fetcher.fetch(record_for("NSE", "SBIN"), parse_interval("day"),
                                  datetime(2024, 1, 1, tzinfo=IST),
                                  datetime(2024, 12, 31, tzinfo=IST))
    assert summary.records > 200
    assert fetcher.stats.rate_limited == 2 and fetcher.stats.retries == 2


async def test_fetch_when_auth_error_fails_at_once_without_retry(store: CandleStore) -> None:
    source = SimHistorical(error=AuthError("kite rejected the credentials"))
    fetcher = make_fetcher(source, store)
    with pytest.raises(AuthError):
        await fetcher.fetch(record_for("NSE", "SBIN"), parse_interval("day"),
                            datetime(2024, 1, 1, tzinfo=IST), datetime(2024, 6, 1, tzinfo=IST))
    assert source.calls == 1


async def test_fetch_when_progress_and_stop_reports_each_chunk_and_stops(
    store: CandleStore,
) -> None:
    fetcher = make_fetcher(SimHistorical(), store)
    seen: list[FetchProgress] = []

    def stop() -> bool:
        return len(seen) >= 2

    summary = await fetcher.fetch(record_for("NSE", "INFY"), MINUTE,
                                  datetime(2024, 1, 1, tzinfo=IST),
                                  datetime(2024, 12, 31, tzinfo=IST),
                                  on_progress=seen.append, should_stop=stop)
    assert summary.cancelled and summary.requests == 2
    assert [p.requests_done for p in seen] == [1, 2, 2]
    assert all(p.requests_total == 7 for p in seen)
    assert seen[0].eta_seconds == pytest.approx(6 / 3.0) and seen[-1].done
    assert seen[1].cursor is not None and seen[1].rows_stored == summary.records
