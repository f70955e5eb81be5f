"""CandleStore against real PostgreSQL: COPY write path, upsert semantics, monthly partitions,
segment separation, deletes, and database-info per segment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg
import numpy as np
import pytest
import pytest_asyncio

from mandi.core.candles import CandleFrame, to_ms
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.testing.pg import fresh_database
from services.history import dbinfo, reader
from services.history.store import CandleStore

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "history" / "migrations"
INFY = 408065  # NSE: exchange token 1594 * 256 + 1
NIFTY_FUT = 13_238_786  # NFO: low byte 2
UNKNOWN_SEGMENT = 123 * 256 + 7  # MCX code, not stored by Mandi
START = datetime(2024, 1, 1, 9, 15, tzinfo=IST)


def minute_frame(n: int, start: datetime = START, base: float = 100.0) -> CandleFrame:
    """`n` consecutive minute bars (ignoring sessions: the store does not validate)."""
    ts = to_ms(start) + np.arange(n, dtype=np.int64) * 60_000
    close = base + np.arange(n) * 0.05
    return CandleFrame(ts=ts, open=close - 0.05, high=close + 0.5, low=close - 0.5, close=close,
                       volume=np.arange(n) + 1, oi=np.zeros(n, dtype=np.int64))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool() -> AsyncIterator[asyncpg.Pool]:
    async with fresh_database() as dsn:
        await run_migrations(dsn, "history", MIGRATIONS)
        p = await create_pool(dsn, schema="history", max_size=6)
        await p.execute(
            "INSERT INTO instruments (instrument_token, exchange_token, exchange, tradingsymbol,"
            " segment, instrument_type, first_seen, last_seen) VALUES"
            " ($1, 1594, 'NSE', 'INFY', 'NSE', 'EQ', $3, $3),"
            " ($2, 51714, 'NFO', 'NIFTY24JANFUT', 'NFO-FUT', 'FUT', $3, $3)",
            INFY, NIFTY_FUT, date(2024, 1, 1),
        )
        try:
            yield p
        finally:
            await p.close()


@pytest_asyncio.fixture(loop_scope="module")
async def store(pool: asyncpg.Pool) -> CandleStore:
    await pool.execute("TRUNCATE ohlcv")
    return CandleStore(pool)


async def test_write_when_range_empty_stores_every_row_and_reads_back_equal(
    store: CandleStore, pool: asyncpg.Pool
) -> None:
    frame = minute_frame(5000)
    assert await store.write(INFY, "minute", frame, overwrite=False) == 5000
    back = await reader.read(pool, INFY, "minute", None, None)
    assert back.equals(frame)


async def test_write_when_bars_already_stored_and_no_overwrite_keeps_stored_values(
    store: CandleStore, pool: asyncpg.Pool
) -> None:
    await store.write(INFY, "minute", minute_frame(100), overwrite=False)
    changed = minute_frame(150, base=200.0)  # overlaps the first 100 bars with new prices
    assert await store.write(INFY, "minute", changed, overwrite=False) == 50
    back = await reader.read(pool, INFY, "minute", None, None)
    assert len(back) == 150
    assert back.close[:100].tolist() == minute_frame(100).close.tolist()
    assert back.close[100:].tolist() == changed.close[100:].tolist()


async def test_write_when_overwrite_replaces_only_changed_bars(
    store: CandleStore, pool: asyncpg.Pool
) -> None:
    frame = minute_frame(100)
    await store.write(INFY, "minute", frame, overwrite=False)
    close = frame.close.copy()
    close[10:20] += 0.01
    edited = CandleFrame(frame.ts, frame.open, frame.high, frame.low, close, frame.volume,
                         frame.oi)
    assert await store.write(INFY, "minute", edited, overwrite=True) == 10
    back = await reader.read(pool, INFY, "minute", None, None)
    assert back.equals(edited)


async def test_write_when_frame_has_duplicate_and_unsorted_timestamps_stores_first_of_each(
    store: CandleStore, pool: asyncpg.Pool
) -> None:
    f = minute_frame(3)
    messy = CandleFrame.concat([f.take(np.array([2, 0])), f.take(np.array([0, 1]))])
    assert await store.write(INFY, "minute", messy, overwrite=False) == 3
    assert (await reader.read(pool, INFY, "minute", None, None)).equals(f)


async def test_write_when_frame_spans_months_creates_ist_monthly_partitions(
    store: CandleStore, pool: asyncpg.Pool
) -> None:
    days = [datetime(2023, 11, 30, 23, 59, tzinfo=IST), datetime(2023, 12, 1, 0, 0, tzinfo=IST),
            datetime(2024, 2, 29, 9, 15, tzinfo=IST)]
    frame = CandleFrame.concat(minute_frame(1, d) for d in days)
    assert await store.write(INFY, "minute", frame, overwrite=False) == 3
    rows = await pool.fetch(
        "SELECT tableoid::regclass::text AS part, count(*) FROM ohlcv GROUP BY 1 ORDER BY 1")
    assert [(r["part"], r["count"]) for r in rows] == [
        ("ohlcv_equity_p202311", 1), ("ohlcv_equity_p202312", 1), ("ohlcv_equity_p202402", 1)]


async def test_write_when_token_is_derivative_stores_in_derivatives_segment(
    store: CandleStore, pool: asyncpg.Pool
) -> None:
    await store.write(NIFTY_FUT, "minute", minute_frame(10), overwrite=False)
    parts = await pool.fetch("SELECT DISTINCT tableoid::regclass::text AS p, segment FROM ohlcv")
    assert [(r["p"], r["segment"]) for r in parts] == [("ohlcv_derivatives_p202401",
                                                         "DERIVATIVES")]


async def test_write_when_token_segment_unknown_raises_invalid_input_and_stores_nothing(
    store: CandleStore, pool: asyncpg.Pool
) -> None:
    with pytest.raises(InvalidInput) as err:
        await store.write(UNKNOWN_SEGMENT, "minute", minute_frame(5), overwrite=False)
    assert err.value.field == "instrument_token"
    assert await pool.fetchval("SELECT count(*) FROM ohlcv") == 0


async def test_write_when_two_writers_store_same_bars_at_once_neither_fails(
    store: CandleStore, pool: asyncpg.Pool
) -> None:
    # separate stores: separate partition caches, as in two history replicas; 250k rows make
    # each write COPY two slices in parallel, so slices of both writers collide on the key
    frame = minute_frame(250_000, start=datetime(2024, 5, 1, tzinfo=IST))
    written = await asyncio.gather(
        CandleStore(pool).write(INFY, "minute", frame, overwrite=False),
        CandleStore(pool).write(INFY, "minute", frame, overwrite=False),
    )
    assert sum(written) == 250_000
    assert (await reader.read(pool, INFY, "minute", None, None)).equals(frame)


async def test_write_when_interval_unknown_raises_invalid_input(store: CandleStore) -> None:
    with pytest.raises(InvalidInput) as err:
        await store.write(INFY, "2minute", minute_frame(1), overwrite=False)
    assert err.value.field == "interval"


async def test_delete_when_range_given_deletes_exactly_that_range(store: CandleStore) -> None:
    await store.write(INFY, "minute", minute_frame(100), overwrite=False)
    await store.write(INFY, "day", minute_frame(3), overwrite=False)
    hole = (START + timedelta(minutes=40), START + timedelta(minutes=50))
    assert await store.delete(INFY, "minute", *hole) == 10
    stored = await store.stored_timestamps(INFY, "minute", None, None)
    expected = minute_frame(100).ts
    assert stored.tolist() == expected[(expected < to_ms(hole[0])) |
                                       (expected >= to_ms(hole[1]))].tolist()
    assert await store.count(INFY, "day") == 3


async def test_delete_when_no_interval_or_range_deletes_every_interval(
    store: CandleStore,
) -> None:
    await store.write(INFY, "minute", minute_frame(10), overwrite=False)
    await store.write(INFY, "5minute", minute_frame(10), overwrite=False)
    await store.write(NIFTY_FUT, "minute", minute_frame(10), overwrite=False)
    assert await store.delete(INFY) == 20
    assert await store.count(NIFTY_FUT, "minute") == 10


async def test_delete_when_from_after_to_raises_invalid_input_and_deletes_nothing(
    store: CandleStore,
) -> None:
    await store.write(INFY, "minute", minute_frame(10), overwrite=False)
    with pytest.raises(InvalidInput) as err:
        await store.delete(INFY, "minute", START + timedelta(hours=1), START)
    assert err.value.field == "from"
    assert await store.count(INFY, "minute") == 10


async def test_last_ts_when_bars_stored_is_newest_and_none_when_empty(store: CandleStore) -> None:
    assert await store.last_ts(INFY, "minute") is None
    await store.write(INFY, "minute", minute_frame(30), overwrite=False)
    assert await store.last_ts(INFY, "minute") == START + timedelta(minutes=29)
    assert await store.first_ts(INFY, "minute") == START


async def test_database_info_when_both_segments_stored_reports_each_apart(
    store: CandleStore, pool: asyncpg.Pool
) -> None:
    await store.write(INFY, "minute", minute_frame(1000), overwrite=False)
    await store.write(INFY, "day", minute_frame(5), overwrite=False)
    await store.write(NIFTY_FUT, "minute", minute_frame(300), overwrite=False)
    eq = await dbinfo.database_info(pool, "EQUITY")
    fo = await dbinfo.database_info(pool, 2)  # mandi.v1.SEGMENT_DERIVATIVES
    assert (eq["rows"], eq["datasets"], eq["exchanges"]) == (1005, 2, ["NSE"])
    assert (fo["rows"], fo["datasets"], fo["exchanges"]) == (300, 1, ["NFO"])
    assert eq["storage_engine"] == "postgresql-partitioned"
    assert eq["size_bytes"] > fo["size_bytes"] > 0
    infy_minute = next(d for d in eq["dataset_list"] if d["interval"] == "minute")
    assert (infy_minute["tradingsymbol"], infy_minute["rows"]) == ("INFY", 1000)
    assert infy_minute["last_ts"] == START + timedelta(minutes=999)
    msg = dbinfo.to_proto(fo, 2)
    assert msg.dataset_list[0].tradingsymbol == "NIFTY24JANFUT" and msg.rows == 300


async def test_database_info_when_segment_unknown_raises_invalid_input(
    pool: asyncpg.Pool,
) -> None:
    with pytest.raises(InvalidInput) as err:
        await dbinfo.database_info(pool, "COMMODITY")
    assert err.value.field == "segment"
