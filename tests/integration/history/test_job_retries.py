"""Job items that meet transient Kite errors back off and retry for minutes instead of failing
at once; the retry state lives in the row (so another replica honours it); an item that ran out
of its window fails as retryable and `requeue_failed` (the daily update) runs it again.

Real parts: PostgreSQL, kitesim over HTTP through kiteconnect, with kitesim's fault injection
(`/sim/faults`: every REST call answers 5xx while it is on).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mandi.core.clock import IST, TestClock
from mandi.kite.client import KiteClient
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.platform.notify_events import decode, publish_event, stream_key
from mandi.testing.kitesim import KitesimServer, kitesim_server  # noqa: F401  (fixture)
from services.history.fetcher import Fetcher, FetchOptions
from services.history.instruments import InstrumentMaster
from services.history.jobs import BatchItemSpec, JobQueue
from services.history.store import CandleStore

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "history" / "migrations"
NOW = datetime(2025, 1, 6, 12, 0, tzinfo=IST)
START = datetime(2024, 1, 1, tzinfo=IST)
END = datetime(2024, 1, 31, 23, 59, tzinfo=IST)
DEADLINE_S = 90.0  # generous: a loaded 2-core machine


def served(sim: KitesimServer, symbol: str) -> int:
    token = next(i["instrument_token"] for i in sim.kite().instruments("NSE")
                 if i["tradingsymbol"] == symbol)
    body = sim.raw(f"/instruments/historical/{token}/60minute"
                   "?from=2024-01-01+00:00:00&to=2024-01-31+23:59:59")
    return len(body["data"]["candles"])


async def wait_for(pool: Any, sql: str, ok: Callable[[Any], bool], *args: Any) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        async with pool.acquire() as conn:
            value = await conn.fetchrow(sql, *args)
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting; last {dict(value or {})}"
        await asyncio.sleep(0.1)


@pytest_asyncio.fixture
async def env(pg_dsn: str, kitesim_server: KitesimServer,  # noqa: F811
              ) -> AsyncIterator[Any]:
    await run_migrations(pg_dsn, "history", MIGRATIONS)
    pool = await create_pool(pg_dsn, schema="history")
    kite = KiteClient(kitesim_server.api_key, access_token=kitesim_server.access_token,
                      root=kitesim_server.url)
    clock = TestClock(NOW)
    # the fetcher's own per-request retries give up fast (2 attempts), as they would in a
    # 429 storm of ~20 s: what must not give up is the job
    fetcher = Fetcher(kite, CandleStore(pool), clock, limiter=None, retry_attempts=2,
                      base_delay_s=0.01, max_delay_s=0.02)
    master = InstrumentMaster(pool, kite, clock)
    await master.refresh()
    queues: list[JobQueue] = []

    def make_queue(**kw: Any) -> JobQueue:
        kw.setdefault("poll_s", 0.1)
        q = JobQueue(pool, fetcher, master, concurrency=1, **kw)
        queues.append(q)
        return q

    try:
        yield kitesim_server, pool, make_queue
    finally:
        kitesim_server.admin("faults", {"error_rate": 0})
        for q in queues:
            await q.stop()
        await kite.close()
        await pool.close()


ITEM_SQL = "SELECT state, transient_errors, attempts, error, retryable, rows_stored," \
           " next_try_at > now() AS waiting FROM job_items WHERE job_id = $1::uuid"


async def test_transient_errors_back_off_and_the_item_completes_when_kite_recovers(env):
    sim, pool, make_queue = env
    queue = make_queue(retry_window_s=600, retry_base_s=0.2, retry_max_s=0.5)
    sim.admin("faults", {"error_rate": 1.0})  # every Kite call answers 5xx
    job = await queue.create_batch([BatchItemSpec("60minute", "NSE", "INFY")], START, END,
                                   FetchOptions(), "A")
    await queue.start()
    row = await wait_for(pool, ITEM_SQL, lambda r: r["transient_errors"] >= 3, job.id)
    # today's code fails the item on the first exhausted request; here it is back in the queue
    assert row["state"] in ("queued", "running") and "TemporaryError" in row["error"]
    sim.admin("faults", {"error_rate": 0})
    row = await wait_for(pool, ITEM_SQL, lambda r: r["state"] == "done", job.id)
    assert row["rows_stored"] == served(sim, "INFY") > 100
    assert row["attempts"] >= 4 and row["error"] == "" and not row["retryable"]
    assert row["transient_errors"] == 0  # a completed chunk resets the streak
    assert (await queue.get(job.id, "A")).state == "done"


async def test_retry_time_in_the_row_holds_across_a_lease_hand_over(env):
    sim, pool, make_queue = env
    first = make_queue(retry_window_s=600, retry_base_s=3600, retry_max_s=3600)
    sim.admin("faults", {"error_rate": 1.0})
    job = await first.create_batch([BatchItemSpec("60minute", "NSE", "TCS")], START, END,
                                   FetchOptions(), "A")
    item = await first._claim()
    await first._run(item)  # one attempt: Kite fails, the item is queued again
    sim.admin("faults", {"error_rate": 0})
    row = await wait_for(pool, ITEM_SQL, lambda r: r is not None, job.id)
    assert (row["state"], row["transient_errors"], row["waiting"]) == ("queued", 1, True)
    # another replica must not try before next_try_at (an hour away at a 3600 s base) ...
    other = make_queue(retry_window_s=600)
    assert other.worker_id != first.worker_id
    assert await other._claim() is None
    # ... and takes it once that time has come, keeping the count of the earlier failure
    async with pool.acquire() as conn:
        await conn.execute("UPDATE job_items SET next_try_at = now() WHERE job_id = $1::uuid",
                           job.id)
    claimed = await other._claim()
    assert claimed is not None and claimed["transient_errors"] == 1 and claimed["attempts"] == 2
    await other._run(claimed)
    row = await wait_for(pool, ITEM_SQL, lambda r: r is not None, job.id)
    assert row["state"] == "done" and row["rows_stored"] == served(sim, "TCS")


async def test_item_past_its_window_fails_retryable_and_requeue_failed_completes_it(env):
    sim, pool, make_queue = env
    queue = make_queue(retry_window_s=0)  # no window: the first transient error fails it
    sim.admin("faults", {"error_rate": 1.0})
    job = await queue.create_batch([BatchItemSpec("60minute", "NSE", "SBIN")], START, END,
                                   FetchOptions(), "A")
    item = await queue._claim()
    await queue._run(item)
    sim.admin("faults", {"error_rate": 0})
    failed = await queue.get(job.id, "A")
    assert failed.state == "failed" and failed.items[0].state == "failed"
    row = await wait_for(pool, ITEM_SQL, lambda r: r is not None, job.id)
    assert row["retryable"] and "TemporaryError" in row["error"]
    assert await queue.requeue_failed() == 1
    assert (await queue.get(job.id, "A")).state == "queued"
    assert await queue.run_until_idle() == 1
    done = await queue.get(job.id, "A")
    assert done.state == "done" and done.items[0].rows_stored == served(sim, "SBIN")
    assert await queue.requeue_failed() == 0  # nothing left to retry


async def test_a_429_storm_from_another_client_on_the_same_key_does_not_fail_the_item(env):
    """Another client spends the key's 3 req/s historical window for seconds: the fetcher's
    own two attempts meet 429s and give up, the item backs off and completes afterwards."""
    import threading
    import urllib.error

    sim, pool, make_queue = env
    queue = make_queue(retry_window_s=600, retry_base_s=0.2, retry_max_s=0.5)
    token = next(i["instrument_token"] for i in sim.kite().instruments("NSE")
                 if i["tradingsymbol"] == "WIPRO")
    expected = served(sim, "WIPRO")
    stop = threading.Event()

    def other_client() -> None:  # same API key, as fast as it can
        while not stop.is_set():
            try:
                sim.raw(f"/instruments/historical/{token}/day"
                        "?from=2024-01-01+00:00:00&to=2024-01-05+23:59:59")
            except (urllib.error.HTTPError, OSError):
                pass

    sim.admin("ratelimit", {"enabled": True})
    # three threads: a slot freed in kitesim's sliding window goes to them, not to the fetcher
    storms = [threading.Thread(target=other_client, daemon=True) for _ in range(3)]
    for t in storms:
        t.start()
    try:
        job = await queue.create_batch([BatchItemSpec("60minute", "NSE", "WIPRO")], START, END,
                                       FetchOptions(), "A")
        await queue.start()
        row = await wait_for(pool, ITEM_SQL, lambda r: r["transient_errors"] >= 1
                             or r["state"] not in ("queued", "running"), job.id)
        assert row["state"] in ("queued", "running"), dict(row)  # not failed: backing off
        assert "RateLimited" in row["error"]
    finally:
        stop.set()
        for t in storms:
            t.join(10)
    await asyncio.sleep(1.1)  # let kitesim's one-second window drain
    try:
        row = await wait_for(pool, ITEM_SQL, lambda r: r["state"] == "done", job.id)
    finally:
        sim.admin("ratelimit", {"enabled": False})
    assert row["rows_stored"] == expected > 100 and row["attempts"] >= 2


async def test_a_job_ending_notifies_fetch_failed_then_fetch_finished(env, test_redis):
    """The job's end goes onto the notification stream (publish_event, as HistoryApp wires
    it): failed when its only item failed, finished once the requeued item completes."""
    sim, _pool, make_queue = env
    prefix = test_redis.prefix + "h"
    queue = make_queue(retry_window_s=0, notify=lambda kind, data: publish_event(
        test_redis.client, prefix, kind, data))
    sim.admin("faults", {"error_rate": 1.0})
    job = await queue.create_batch([BatchItemSpec("60minute", "NSE", "INFY")], START, END,
                                   FetchOptions(), "A")
    await queue._run(await queue._claim())
    sim.admin("faults", {"error_rate": 0})
    await queue.requeue_failed()
    assert await queue.run_until_idle() == 1

    async def events() -> list[dict[str, Any]]:
        return [decode(f) for _, f in await test_redis.client.xrange(stream_key(prefix))]

    deadline = time.monotonic() + DEADLINE_S
    while len(got := await events()) < 2:
        assert time.monotonic() < deadline, f"timed out waiting; got {got}"
        await asyncio.sleep(0.05)
    assert [e["kind"] for e in got] == ["fetch_failed", "fetch_finished"]
    failed, finished = got[0]["data"], got[1]["data"]
    assert failed["job_id"] == finished["job_id"] == str(job.id)
    assert (failed["items"], failed["failed"], failed["account_id"]) == (1, 1, "A")
    assert failed["error"] == "1 of 1 items failed"
    assert (finished["items"], finished["failed"], finished["job_kind"]) == (1, 0, "batch")
