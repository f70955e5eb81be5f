"""The job table's lease rules against real PostgreSQL: what a crashed worker leaves behind is
picked up, a job that keeps killing its workers is failed, cancel settles queued jobs at once."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from services.strategy.server import MIGRATIONS
from services.strategy.store import BacktestStore, LeaseLost

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def store(pg_dsn) -> AsyncIterator[BacktestStore]:
    await run_migrations(pg_dsn, "strategy", MIGRATIONS)
    pool = await create_pool(pg_dsn, schema="strategy")
    try:
        yield BacktestStore(pool, max_attempts=2)
    finally:
        await pool.close()


async def lease_lapsed(store: BacktestStore, backtest_id: str) -> None:
    """Wait until PostgreSQL's own clock is past the job's lease (generous deadline): no
    assumption about how fast this process gets scheduled."""
    deadline = time.monotonic() + 30
    for _ in itertools.count():
        if await store.pool.fetchval("SELECT lease_until < now() FROM backtests WHERE id = $1",
                                     uuid.UUID(backtest_id)):
            return
        assert time.monotonic() < deadline, "lease never lapsed"
        await asyncio.sleep(0.05)


async def test_claim_when_lease_expired_hands_job_to_next_worker(store):
    job = await store.create("asha", False, b"spec")
    first = await store.claim("w1", lease_s=60)
    assert first is not None and first.id == job.id and first.attempts == 1
    assert await store.claim("w2", lease_s=5) is None  # still leased (for a minute)
    # w1 renews with a 0.05 s lease and then "dies": the job is claimable once that lapses.
    assert not await store.heartbeat(job.id, "w1", 0.05, progress=0.1, bars_done=0,
                                     bars_total=2)
    await lease_lapsed(store, job.id)
    second = await store.claim("w2", lease_s=5)
    assert second is not None and second.id == job.id and second.attempts == 2
    with pytest.raises(LeaseLost):
        await store.heartbeat(job.id, "w1", 5, progress=0.5, bars_done=1, bars_total=2)
    assert not await store.finish(job.id, "w1", "done")  # the old worker cannot settle it
    assert await store.finish(job.id, "w2", "failed", error="x")
    assert (await store.get(job.id)).state == "failed"


async def test_claim_when_job_exhausted_attempts_fails_it_and_takes_the_next(store):
    poison = await store.create("asha", False, b"poison")
    for worker in ("w1", "w2"):
        assert (await store.claim(worker, lease_s=0.05)).id == poison.id
        await lease_lapsed(store, poison.id)
    healthy = await store.create("asha", False, b"ok")
    claimed = await store.claim("w3", lease_s=5)
    assert claimed is not None and claimed.id == healthy.id
    dead = await store.get(poison.id)
    assert dead.state == "failed" and "abandoned after 2 attempts" in dead.error


async def test_request_cancel_when_queued_cancels_at_once_and_running_flags(store):
    queued = await store.create("asha", False, b"a")
    running = await store.create("asha", False, b"b")
    assert (await store.request_cancel(queued.id)).state == "cancelled"
    assert (await store.claim("w1", lease_s=5)).id == running.id
    flagged = await store.request_cancel(running.id)
    assert flagged.state == "running" and flagged.cancel_requested
    assert await store.heartbeat(running.id, "w1", 5, progress=0.1, bars_done=0, bars_total=0)


async def test_release_when_worker_stops_requeues_without_spending_an_attempt(store):
    job = await store.create("asha", False, b"a")
    await store.claim("w1", lease_s=30)
    await store.release(job.id, "w1")
    again = await store.claim("w2", lease_s=30)
    assert again.id == job.id and again.attempts == 1
