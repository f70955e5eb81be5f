"""Durable jobs: real PostgreSQL, kitesim's historical engine, a worker killed with SIGKILL.

Run as a script (`python test_jobs.py worker DSN REDIS_URL BUCKET_KEY`) this file is the job
worker process the crash-resume test kills and restarts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kiteconnect import KiteConnect

from mandi.core.clock import IST, TestClock
from mandi.core.errors import InvalidInput, NotFound, PreconditionFailed
from mandi.core.intervals import parse_interval
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from services.history.fetcher import Fetcher, FetchOptions
from services.history.instruments import InstrumentMaster
from services.history.jobs import BatchItemSpec, JobQueue
from services.history.planner import plan_chunks
from services.history.store import CandleStore

sys.path.insert(0, str(Path(__file__).parent))
from test_fetcher import SIM_NOW, SimHistorical, sim_market

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "history" / "migrations"
START = datetime(2024, 1, 1, tzinfo=IST)
END = datetime(2024, 12, 31, 23, 59, tzinfo=IST)
CRASH_END = datetime(2024, 6, 28, tzinfo=IST)  # three 60-day minute chunks per symbol


class SimDump:
    async def instruments(self, exchange: str | None = None) -> list[dict[str, Any]]:
        return KiteConnect("k")._parse_instruments(sim_market().universe.csv(exchange).encode())


async def build(dsn: str, *, limiter: Any = None, lease_s: float = 30.0,
                concurrency: int = 2) -> tuple[Any, JobQueue, CandleStore]:
    pool = await create_pool(dsn, schema="history")
    clock = TestClock(SIM_NOW)
    store = CandleStore(pool)
    fetcher = Fetcher(SimHistorical(limit=limiter is not None), store, clock, limiter=limiter,
                      rate_per_s=getattr(limiter, "rate_per_s", 3.0), base_delay_s=0.05)
    master = InstrumentMaster(pool, SimDump(), clock)
    return pool, JobQueue(pool, fetcher, master, concurrency=concurrency, lease_s=lease_s,
                          poll_s=0.2), store


@pytest_asyncio.fixture
async def env(pg_dsn: str) -> AsyncIterator[tuple[str, JobQueue, CandleStore, Any]]:
    await run_migrations(pg_dsn, "history", MIGRATIONS)
    pool, queue, store = await build(pg_dsn)
    await queue._master.refresh()
    try:
        yield pg_dsn, queue, store, pool
    finally:
        await queue.stop()
        await pool.close()


def items(*symbols: str, interval: str = "minute") -> list[BatchItemSpec]:
    return [BatchItemSpec(interval=interval, exchange="NSE", tradingsymbol=s) for s in symbols]


def expected_bars(symbol: str, interval: str, start: datetime, end: datetime) -> int:
    token = sim_market().universe.get("NSE", symbol).token
    src = SimHistorical()
    return sum(src.count(token, interval, c.start, c.end)
               for c in plan_chunks(parse_interval(interval), start, end))


async def test_create_batch_when_run_completes_items_and_tracks_series(env) -> None:
    _, queue, _, pool = env
    job = await queue.create_batch(items("INFY", "TCS", interval="day"), START, END,
                                   FetchOptions(), "AB1234")
    assert job.state == "queued" and job.requests_total == 2 and len(job.items) == 2
    assert await queue.run_until_idle() == 2
    done = await queue.get(job.id, "AB1234")
    assert done.state == "done" and done.finished_at is not None
    assert [i.state for i in done.items] == ["done", "done"]
    assert done.rows_stored == 2 * expected_bars("INFY", "day", START, END)
    assert done.requests_done == 2 and done.eta_seconds == 0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM tracked") == 2


async def test_create_batch_when_item_unknown_raises_naming_item_and_queues_nothing(env) -> None:
    _, queue, _, _ = env
    with pytest.raises(NotFound) as err:
        await queue.create_batch(items("INFY", "NOSUCHCO"), START, END, FetchOptions(), "A")
    assert err.value.field == "items[1].tradingsymbol"
    with pytest.raises(InvalidInput) as err:
        await queue.create_batch(items("INFY", interval="2minute"), START, END,
                                 FetchOptions(), "A")
    assert err.value.field == "items[0].interval"
    assert (await queue.list("A"))[1] == 0


async def test_cancel_when_queued_cancels_items_and_nothing_runs(env) -> None:
    _, queue, _, _ = env
    job = await queue.create_batch(items("INFY"), START, END, FetchOptions(), "A")
    with pytest.raises(NotFound):
        await queue.cancel(job.id, "someone-else")
    cancelled = await queue.cancel(job.id, "A")
    assert cancelled.state == "cancelled" and cancelled.items[0].state == "cancelled"
    assert await queue.run_until_idle() == 0
    with pytest.raises(PreconditionFailed):
        await queue.cancel(job.id, "A")


async def test_get_when_job_id_malformed_raises_invalid_input(env) -> None:
    _, queue, _, _ = env
    with pytest.raises(InvalidInput) as err:
        await queue.get("not-a-uuid")
    assert err.value.field == "job_id"


def _spawn(dsn: str, redis_url: str, key: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "worker", dsn, redis_url, key],
                            env={**os.environ, "PYTHONPATH": str(MIGRATIONS.parents[2])},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def test_job_when_worker_killed_mid_batch_resumes_without_duplicates_or_gaps(
    env, test_redis
) -> None:
    dsn, queue, store, pool = env
    job = await queue.create_batch(items("INFY", "TCS"), START, CRASH_END, FetchOptions(), "A")
    assert job.requests_total == 6
    key = test_redis.key("bucket")
    first = _spawn(dsn, test_redis.url, key)
    try:
        deadline = time.monotonic() + 30
        while (await queue.get(job.id)).requests_done < 2:
            assert first.poll() is None, first.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "worker made no progress"
            await asyncio.sleep(0.05)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    mid = await queue.get(job.id)
    assert mid.state == "running" and 2 <= mid.requests_done < 6
    second = _spawn(dsn, test_redis.url, key)
    try:
        deadline = time.monotonic() + 60
        while (view := await queue.get(job.id)).state == "running":
            assert second.poll() is None, second.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, f"job stuck: {view}"
            await asyncio.sleep(0.1)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait()
    assert view.state == "done", view
    for sym in ("INFY", "TCS"):
        token = sim_market().universe.get("NSE", sym).token
        assert await store.count(token, "minute") == expected_bars(sym, "minute", START, CRASH_END)
    async with pool.acquire() as conn:
        total, distinct = await conn.fetchrow(
            "SELECT count(*), count(DISTINCT (instrument_token, ts)) FROM ohlcv")
        attempts = await conn.fetchval("SELECT max(attempts) FROM job_items")
    assert total == distinct and attempts == 2
    assert view.requests_done <= 6 + 2  # at most the chunk in flight per item is redone


async def _worker_main(dsn: str, redis_url: str, key: str) -> None:
    from mandi.platform.ratelimit import TokenBucket
    from mandi.platform.redis import create_redis

    limiter = TokenBucket(create_redis(redis_url), key, 1, 2.9)
    _, queue, _ = await build(dsn, limiter=limiter, lease_s=1.5)
    await queue.start()
    await asyncio.Event().wait()


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    asyncio.run(_worker_main(*sys.argv[2:5]))
