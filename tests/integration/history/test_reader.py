"""reader against real PostgreSQL: ranges, IST-aligned resampling, streamed batches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg
import numpy as np
import pytest
import pytest_asyncio

from mandi.core.calendar import session_open, trading_days
from mandi.core.candles import CandleFrame, to_ms
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.testing.pg import fresh_database
from services.history import reader
from services.history.store import CandleStore

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "history" / "migrations"
INFY = 408065
DAYS = trading_days(date(2024, 1, 1), date(2024, 1, 12))  # 10 sessions


def session_frame() -> CandleFrame:
    """Every minute bar of DAYS, with prices that make aggregation errors visible."""
    ts = np.concatenate([to_ms(session_open(d)) + np.arange(375) * 60_000 for d in DAYS])
    n = len(ts)
    close = 100 + np.arange(n) * 0.01
    return CandleFrame(ts=ts, open=close - 0.02, high=close + 1 + (np.arange(n) % 7),
                       low=close - 1 - (np.arange(n) % 5), close=close,
                       volume=np.arange(n) + 1, oi=np.arange(n) * 2)


FRAME = session_frame()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool() -> AsyncIterator[asyncpg.Pool]:
    async with fresh_database() as dsn:
        await run_migrations(dsn, "history", MIGRATIONS)
        p = await create_pool(dsn, schema="history", max_size=4)
        await CandleStore(p).write(INFY, "minute", FRAME, overwrite=False)
        try:
            yield p
        finally:
            await p.close()


async def test_read_when_range_given_returns_half_open_range_ascending(
    pool: asyncpg.Pool,
) -> None:
    start, end = session_open(DAYS[2]), session_open(DAYS[3])
    got = await reader.read(pool, INFY, "minute", start, end)
    mask = (FRAME.ts >= to_ms(start)) & (FRAME.ts < to_ms(end))
    assert got.equals(FRAME.take(mask)) and len(got) == 375


async def test_read_when_nothing_stored_returns_empty_frame(pool: asyncpg.Pool) -> None:
    got = await reader.read(pool, INFY, "5minute", None, None)
    assert len(got) == 0 and got.ts.dtype == np.int64


async def test_read_when_resampled_to_15minute_buckets_start_0915_ist_and_aggregate(
    pool: asyncpg.Pool,
) -> None:
    got = await reader.read(pool, INFY, "minute", None, None, resample_to="15minute")
    assert len(got) == 25 * len(DAYS)
    first_day = [t.astimezone(IST).strftime("%H:%M") for t in got.datetimes()[:25]]
    assert first_day[:3] == ["09:15", "09:30", "09:45"] and first_day[-1] == "15:15"
    src = FRAME.take(slice(15, 30))  # the second bucket, 09:30..09:44
    assert got.ts[1] == src.ts[0]
    assert (got.open[1], got.close[1]) == (src.open[0], src.close[-1])
    assert (got.high[1], got.low[1]) == (src.high.max(), src.low.min())
    assert (got.volume[1], got.oi[1]) == (src.volume.sum(), src.oi[-1])


async def test_read_when_resampled_to_60minute_last_bucket_is_1515_quarter_hour(
    pool: asyncpg.Pool,
) -> None:
    got = await reader.read(pool, INFY, "minute", session_open(DAYS[0]),
                            session_open(DAYS[1]), resample_to="60minute")
    assert [t.astimezone(IST).strftime("%H:%M") for t in got.datetimes()] == [
        "09:15", "10:15", "11:15", "12:15", "13:15", "14:15", "15:15"]
    assert got.volume[-1] == FRAME.volume[360:375].sum()


async def test_read_when_resampled_to_day_buckets_are_ist_midnights(pool: asyncpg.Pool) -> None:
    got = await reader.read(pool, INFY, "minute", None, None, resample_to="day")
    assert [t.astimezone(IST) for t in got.datetimes()] == [
        datetime(d.year, d.month, d.day, tzinfo=IST) for d in DAYS]
    assert got.close[0] == FRAME.close[374] and got.volume[0] == FRAME.volume[:375].sum()


async def test_read_when_resample_target_not_a_multiple_raises_invalid_input(
    pool: asyncpg.Pool,
) -> None:
    for source, target in (("5minute", "3minute"), ("10minute", "15minute"), ("day", "60minute")):
        with pytest.raises(InvalidInput) as err:
            await reader.read(pool, INFY, source, None, None, resample_to=target)
        assert err.value.field == "resample_to"


async def test_read_when_from_not_before_to_raises_invalid_input(pool: asyncpg.Pool) -> None:
    t = session_open(DAYS[0])
    with pytest.raises(InvalidInput) as err:
        await reader.read(pool, INFY, "minute", t, t)
    assert err.value.field == "from"


async def test_iter_batches_when_pages_smaller_than_range_yields_every_row_once(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "_SLICE_ROWS", 1000)  # force many time slices
    batches = [b async for b in reader.iter_batches(pool, INFY, "minute", None, None,
                                                    batch_size=700)]
    assert all(len(b) <= 700 for b in batches) and len(batches) > 6
    assert CandleFrame.concat(batches).equals(FRAME)


async def test_read_when_range_spans_many_slices_equals_single_query(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    start, end = session_open(DAYS[1]) + timedelta(minutes=7), session_open(DAYS[8])
    monkeypatch.setattr(reader, "_SLICE_ROWS", 400)  # one-day slices, boundaries mid-data
    got = await reader.read(pool, INFY, "minute", start, end)
    mask = (FRAME.ts >= to_ms(start)) & (FRAME.ts < to_ms(end))
    assert got.equals(FRAME.take(mask))


async def test_iter_batches_when_consumer_stops_early_leaves_no_query_running(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "_SLICE_ROWS", 400)
    stream = reader.iter_batches(pool, INFY, "minute", None, None, batch_size=100)
    first = await anext(stream)
    await stream.aclose()  # what a cancelled GetCandles does
    assert len(first) == 100
    busy = -1
    for _ in range(100):  # a cancelled COPY's connection is reset before it returns
        busy = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state = 'active' AND query LIKE 'COPY%'")
        if busy == 0 and pool.get_idle_size() == pool.get_size():
            break
        await asyncio.sleep(0.02)
    assert pool.get_idle_size() == pool.get_size()  # every connection back in the pool
    assert busy == 0  # and no slice query left running on the server


async def test_iter_batches_when_resampling_across_slices_never_splits_a_bucket(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "_SLICE_ROWS", 900)  # two-day slices of minute bars
    batches = [b async for b in reader.iter_batches(pool, INFY, "minute", None, None,
                                                    resample_to="15minute", batch_size=16)]
    got = CandleFrame.concat(batches)
    groups = 15  # whole sessions: every 15 consecutive minute bars form one bucket
    assert got.ts.tolist() == FRAME.ts[::groups].tolist()
    assert got.open.tolist() == FRAME.open[::groups].tolist()
    assert got.close.tolist() == FRAME.close[groups - 1::groups].tolist()
    assert got.high.tolist() == FRAME.high.reshape(-1, groups).max(axis=1).tolist()
    assert got.low.tolist() == FRAME.low.reshape(-1, groups).min(axis=1).tolist()
    assert got.volume.tolist() == FRAME.volume.reshape(-1, groups).sum(axis=1).tolist()


async def test_iter_batches_when_batch_size_negative_raises_invalid_input(
    pool: asyncpg.Pool,
) -> None:
    with pytest.raises(InvalidInput) as err:
        _ = [b async for b in reader.iter_batches(pool, INFY, "minute", None, None,
                                                  batch_size=-1)]
    assert err.value.field == "batch_size"


async def test_read_when_range_has_naive_bound_raises_invalid_input(pool: asyncpg.Pool) -> None:
    with pytest.raises(InvalidInput):
        await reader.read(pool, INFY, "minute", datetime(2024, 1, 1), None)
    # and a bound one day later than the data still reads fine
    got = await reader.read(pool, INFY, "minute", session_open(DAYS[-1]) + timedelta(days=1),
                            None)
    assert len(got) == 0


async def test_read_when_resampled_special_sessions_bucket_from_their_span_starts(
    pool: asyncpg.Pool,
) -> None:
    """A Muhurat hour 18:00-19:00 and a DR session's 11:30-12:30 span are one 60-minute bar
    each, as Kite lays them out, not 17:15/18:15 and 11:15/12:15 buckets from 09:15."""
    from mandi.core.calendar import session_minutes

    tcs = 2953217
    ts = np.array([to_ms(t) for d in (date(2024, 3, 2), date(2024, 11, 1))
                   for t in session_minutes(d)], dtype=np.int64)
    n = len(ts)  # 105 + 60
    close = 200 + np.arange(n) * 0.01
    frame = CandleFrame(ts=ts, open=close, high=close + 1, low=close - 1, close=close,
                        volume=np.ones(n, dtype=np.int64), oi=np.zeros(n, dtype=np.int64))
    await CandleStore(pool).write(tcs, "minute", frame, overwrite=False)
    got = await reader.read(pool, tcs, "minute", datetime(2024, 3, 1, tzinfo=IST),
                            datetime(2024, 11, 2, tzinfo=IST), resample_to="60minute")
    stamps = [t.astimezone(IST).strftime("%m-%d %H:%M") for t in got.datetimes()]
    assert stamps == ["03-02 09:15", "03-02 11:30", "11-01 18:00"]
    # 09:15-10:00 holds 45 one-minute bars, 11:30-12:30 and 18:00-19:00 60 each
    assert got.volume.tolist() == [45, 60, 60]
