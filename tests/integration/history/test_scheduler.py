"""H3: the daily update (`services/history/scheduler.py`) with a TestClock, real PostgreSQL and
kitesim's instrument dump through kiteconnect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mandi.core.clock import IST, TestClock
from mandi.kite.client import KiteClient
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.testing.kitesim import KitesimServer, kitesim_server  # noqa: F401  (fixture)
from services.history.fetcher import Fetcher, FetchOptions
from services.history.instruments import InstrumentMaster
from services.history.jobs import BatchItemSpec, JobQueue
from services.history.scheduler import DailyScheduler
from services.history.store import CandleStore

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "history" / "migrations"
MONDAY = datetime(2025, 1, 6, 9, 0, tzinfo=IST)  # a normal trading day


@pytest_asyncio.fixture
async def env(pg_dsn: str, kitesim_server: KitesimServer,  # noqa: F811
              ) -> AsyncIterator[Any]:
    await run_migrations(pg_dsn, "history", MIGRATIONS)
    pool = await create_pool(pg_dsn, schema="history")
    kite = KiteClient(kitesim_server.api_key, access_token=kitesim_server.access_token,
                      root=kitesim_server.url)
    clock = TestClock(MONDAY)
    master = InstrumentMaster(pool, kite, clock)
    await master.refresh()
    queue = JobQueue(pool, Fetcher(kite, CandleStore(pool), clock, limiter=None), master)
    tokens = {}
    for sym in ("INFY", "TCS"):
        tokens[sym] = (await master.lookup("NSE", sym)).instrument_token
    async with pool.acquire() as conn:
        await conn.executemany("INSERT INTO tracked (instrument_token, interval) VALUES ($1, $2)",
                               [(tokens["INFY"], "60minute"), (tokens["INFY"], "day"),
                                (tokens["TCS"], "day")])
    try:
        yield kitesim_server, pool, clock, master, queue, tokens
    finally:
        kitesim_server.admin("faults", {"error_rate": 0})
        await kite.close()
        await pool.close()


def scheduler(env: Any) -> DailyScheduler:
    _, pool, clock, master, queue, _ = env
    return DailyScheduler(pool, queue, master, clock)


async def test_tick_queues_nothing_before_1600_and_the_update_after(env) -> None:
    _, pool, clock, *_ = env
    sch = scheduler(env)
    clock.set(datetime(2025, 1, 6, 15, 59, 59, tzinfo=IST))
    assert await sch.tick() is None
    clock.set(datetime(2025, 1, 6, 16, 0, tzinfo=IST))
    job = await sch.tick()
    assert job is not None and job.kind == "daily_update" and job.account_id == "system"
    # 3 tracked series -> 3 items, each an incremental fetch of the 7-day look-back to now
    assert len(job.items) == 3
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT range_from, range_to, options FROM job_items"
                                " WHERE job_id = $1::uuid", job.id)
        run = await conn.fetchrow("SELECT * FROM daily_runs")
    now = datetime(2025, 1, 6, 16, 0, tzinfo=IST)
    assert {(r["range_from"], r["range_to"]) for r in rows} == {(now - timedelta(days=7), now)}
    assert all('"incremental": true' in r["options"] for r in rows)
    assert run["run_date"].isoformat() == "2025-01-06" and str(run["job_id"]) == job.id
    clock.set(datetime(2025, 1, 6, 18, 0, tzinfo=IST))
    assert await sch.tick() is None  # once a day


@pytest.mark.parametrize("when", [
    datetime(2025, 2, 26, 17, 0, tzinfo=IST),  # Mahashivratri, a weekday holiday
    datetime(2025, 1, 11, 17, 0, tzinfo=IST),  # Saturday
    datetime(2025, 10, 22, 17, 0, tzinfo=IST),  # Diwali Balipratipada
])
async def test_tick_on_a_day_without_a_session_queues_nothing(env, when) -> None:
    _, pool, clock, *_ = env
    clock.set(when)
    assert await scheduler(env).tick() is None
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM daily_runs") == 0
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 0


async def test_tick_on_special_session_days_waits_for_their_close(env) -> None:
    _, _, clock, *_ = env
    sch = scheduler(env)
    # Muhurat 2024-11-01 (a holiday with an 18:00-19:00 session): not at 16:30, yes at 19:00
    clock.set(datetime(2024, 11, 1, 16, 30, tzinfo=IST))
    assert await sch.tick() is None
    clock.set(datetime(2024, 11, 1, 19, 0, tzinfo=IST))
    assert (await sch.tick()) is not None
    # Budget Saturday 2025-02-01: a full session, due at 16:00 like a weekday
    clock.set(datetime(2025, 2, 1, 16, 0, tzinfo=IST))
    assert (await sch.tick()) is not None


async def test_two_schedulers_on_one_database_queue_exactly_one_batch(env) -> None:
    _, pool, clock, *_ = env
    clock.set(datetime(2025, 1, 6, 16, 5, tzinfo=IST))
    a, b = scheduler(env), scheduler(env)
    results = await asyncio.gather(a.tick(), b.tick(), a.tick(), b.tick())
    jobs = [r for r in results if r is not None]
    assert len(jobs) == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM jobs WHERE kind = 'daily_update'") == 1
        assert str(await conn.fetchval("SELECT job_id FROM daily_runs")) == jobs[0].id


async def test_contracts_gone_from_the_dump_are_skipped(env) -> None:
    _, pool, clock, _, _, tokens = env
    async with pool.acquire() as conn:  # the last refresh did not list TCS any more
        await conn.execute("UPDATE instruments SET active = false WHERE instrument_token = $1",
                           tokens["TCS"])
    clock.set(datetime(2025, 1, 6, 16, 0, tzinfo=IST))
    job = await scheduler(env).tick()
    assert job is not None
    assert sorted((i.tradingsymbol, i.interval) for i in job.items) == [
        ("INFY", "60minute"), ("INFY", "day")]


async def test_stale_master_when_refresh_fails_still_queues(env) -> None:
    sim, _, clock, master, *_ = env
    before = await master.refreshed_at()
    clock.set(datetime(2025, 1, 7, 16, 0, tzinfo=IST))  # a new day: the dump is stale
    sim.admin("faults", {"error_rate": 1.0})  # and Kite answers 5xx to the refresh
    try:
        job = await scheduler(env).tick()
    finally:
        sim.admin("faults", {"error_rate": 0})
    assert await master.refreshed_at() == before  # the refresh really failed
    assert job is not None and len(job.items) == 3


async def test_daily_update_requeues_items_that_failed_on_transient_errors(env) -> None:
    _, pool, clock, _, queue, _ = env
    job = await queue.create_batch([BatchItemSpec("60minute", "NSE", "INFY")],
                                   datetime(2024, 1, 1, tzinfo=IST),
                                   datetime(2024, 1, 5, tzinfo=IST), FetchOptions(), "A")
    async with pool.acquire() as conn:  # as the retry window leaves it (see test_job_retries)
        await conn.execute("UPDATE job_items SET state = 'failed', retryable = true,"
                           " error = 'TemporaryError: kite server error' WHERE job_id = $1::uuid",
                           job.id)
        await conn.execute("UPDATE jobs SET state = 'failed' WHERE id = $1::uuid", job.id)
    clock.set(datetime(2025, 1, 6, 16, 0, tzinfo=IST))
    assert await scheduler(env).tick() is not None
    again = await queue.get(job.id, "A")
    assert again.state == "queued" and again.items[0].state == "queued"
    assert again.items[0].error == ""
