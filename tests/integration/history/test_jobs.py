"""Durable jobs: real PostgreSQL, kitesim over HTTP through the real kiteconnect client.

Crash and resume (SIGKILL, lease lapse, resume from the cursor) is proven with real processes
in tests/e2e/history/test_crash_resume.py; these cover creating, running, cancelling and
reading jobs in-process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY

from mandi.core.clock import IST, TestClock
from mandi.core.errors import InvalidInput, NotFound, PreconditionFailed
from mandi.kite.client import KiteClient
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
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


def items(*symbols: str, interval: str = "60minute") -> list[BatchItemSpec]:
    return [BatchItemSpec(interval=interval, exchange="NSE", tradingsymbol=s) for s in symbols]


def served(sim: KitesimServer, symbol: str) -> int:
    """60-minute bars kitesim serves for January 2024 (raw HTTP)."""
    token = next(i["instrument_token"] for i in sim.kite().instruments("NSE")
                 if i["tradingsymbol"] == symbol)
    body = sim.raw(f"/instruments/historical/{token}/60minute"
                   "?from=2024-01-01+00:00:00&to=2024-01-31+23:59:59")
    return len(body["data"]["candles"])


@pytest_asyncio.fixture
async def env(pg_dsn: str, kitesim_server: KitesimServer,  # noqa: F811
              ) -> AsyncIterator[tuple[KitesimServer, JobQueue, Any]]:
    await run_migrations(pg_dsn, "history", MIGRATIONS)
    pool = await create_pool(pg_dsn, schema="history")
    kite = KiteClient(kitesim_server.api_key, access_token=kitesim_server.access_token,
                      root=kitesim_server.url)
    clock = TestClock(NOW)
    fetcher = Fetcher(kite, CandleStore(pool), clock, limiter=None, base_delay_s=0.05)
    queue = JobQueue(pool, fetcher, InstrumentMaster(pool, kite, clock), concurrency=2,
                     poll_s=0.2)
    await queue._master.refresh()
    try:
        yield kitesim_server, queue, pool
    finally:
        await queue.stop()
        await kite.close()
        await pool.close()


async def test_create_batch_when_run_completes_items_and_tracks_series(env) -> None:
    sim, queue, pool = env
    done_before = REGISTRY.get_sample_value("mandi_history_job_items_total",
                                            {"state": "done"}) or 0.0
    job = await queue.create_batch(items("INFY", "TCS"), START, END, FetchOptions(), "AB1234")
    assert job.state == "queued" and job.requests_total == 2 and len(job.items) == 2
    assert await queue.run_until_idle() == 2
    done = await queue.get(job.id, "AB1234")
    assert done.state == "done" and done.finished_at is not None
    assert [i.state for i in done.items] == ["done", "done"]
    assert [i.rows_stored for i in done.items] == [served(sim, "INFY"), served(sim, "TCS")]
    assert done.requests_done == 2 and done.eta_seconds == 0
    assert REGISTRY.get_sample_value("mandi_history_job_items_total",
                                     {"state": "done"}) - done_before == 2
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM tracked") == 2


async def test_create_batch_when_item_unknown_raises_naming_item_and_queues_nothing(env) -> None:
    _, queue, _ = env
    with pytest.raises(NotFound) as err:
        await queue.create_batch(items("INFY", "NOSUCHCO"), START, END, FetchOptions(), "A")
    assert err.value.field == "items[1].tradingsymbol"
    with pytest.raises(InvalidInput) as err:
        await queue.create_batch(items("INFY", interval="2minute"), START, END,
                                 FetchOptions(), "A")
    assert err.value.field == "items[0].interval"
    assert (await queue.list("A"))[1] == 0


async def test_cancel_when_queued_cancels_items_and_nothing_runs(env) -> None:
    _, queue, _ = env
    job = await queue.create_batch(items("INFY"), START, END, FetchOptions(), "A")
    with pytest.raises(NotFound):
        await queue.cancel(job.id, "someone-else")
    cancelled = await queue.cancel(job.id, "A")
    assert cancelled.state == "cancelled" and cancelled.items[0].state == "cancelled"
    assert await queue.run_until_idle() == 0
    with pytest.raises(PreconditionFailed):
        await queue.cancel(job.id, "A")


async def test_get_when_job_id_malformed_raises_invalid_input(env) -> None:
    _, queue, _ = env
    with pytest.raises(InvalidInput) as err:
        await queue.get("not-a-uuid")
    assert err.value.field == "job_id"
