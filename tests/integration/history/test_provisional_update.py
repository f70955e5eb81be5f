"""The daily update replaces candles built from ticks (provisional) with Kite's, for series
nobody tracks and back past its look-back window, so none is left where Kite has the bar.

Real parts: PostgreSQL, kitesim through kiteconnect; the scheduler's and fetcher's clock is a
TestClock (kitesim's own clock is days later, so the update's days are history to it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mandi.core.candles import CandleFrame, to_ms
from mandi.core.clock import IST, TestClock
from mandi.kite.client import KiteClient
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.testing.kitesim import KitesimServer, kitesim_server  # noqa: F401  (fixture)
from services.history import reader
from services.history.fetcher import Fetcher
from services.history.instruments import InstrumentMaster
from services.history.jobs import JobQueue
from services.history.scheduler import DailyScheduler
from services.history.store import CandleStore

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "history" / "migrations"
UPDATE_AT = datetime(2025, 11, 19, 16, 0, tzinfo=IST)  # a Wednesday, the update is due
OLD_DAY = "2025-11-10"  # a Monday, 9 days back: outside the 7-day look-back
TODAY = "2025-11-19"


@pytest_asyncio.fixture
async def env(pg_dsn: str, kitesim_server: KitesimServer,  # noqa: F811
              ) -> AsyncIterator[Any]:
    await run_migrations(pg_dsn, "history", MIGRATIONS)
    pool = await create_pool(pg_dsn, schema="history")
    kite = KiteClient(kitesim_server.api_key, access_token=kitesim_server.access_token,
                      root=kitesim_server.url)
    clock = TestClock(UPDATE_AT)
    master = InstrumentMaster(pool, kite, clock)
    await master.refresh()
    store = CandleStore(pool)
    queue = JobQueue(pool, Fetcher(kite, store, clock, limiter=None), master)
    try:
        yield kitesim_server, pool, clock, master, queue, store
    finally:
        await kite.close()
        await pool.close()


def kite_frame(sim: KitesimServer, token: int, day: str, first: str, n: int) -> CandleFrame:
    """`n` of Kite's minute bars of `day` from `first` (HH:MM IST)."""
    rows = [r for r in sim.kite().historical_data(token, day, day, "minute")
            if r["date"].strftime("%H:%M") >= first][:n]
    assert len(rows) == n
    return CandleFrame.from_columns({
        "ts": [to_ms(r["date"]) for r in rows],
        **{k: [r[k] for r in rows] for k in ("open", "high", "low", "close", "volume")},
        "oi": [0] * n})


def bumped(frame: CandleFrame) -> CandleFrame:
    """The same bars with volume + 1: what ticks might have built, unlike Kite's."""
    cols = {c: getattr(frame, c) for c in ("ts", "open", "high", "low", "close", "oi")}
    return CandleFrame.from_columns({**cols, "volume": frame.volume + 1})


async def test_daily_update_replaces_untracked_tick_candles_back_to_the_first_one(env) -> None:
    sim, pool, clock, master, queue, store = env
    token = (await master.lookup("NSE", "INFY")).instrument_token
    old = kite_frame(sim, token, OLD_DAY, "10:00", 20)
    today = kite_frame(sim, token, TODAY, "11:00", 30)
    for frame in (old, today):  # written as WriteCandles(source="ticks") writes them
        assert await store.write(token, "minute", bumped(frame), overwrite=False,
                                 provisional=True) == len(frame)
    assert await store.provisional_count(token, "minute") == 50
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM tracked") == 0  # nobody tracks INFY

    job = await DailyScheduler(pool, queue, master, clock).run_once(UPDATE_AT.date())
    assert job is not None and [(i.tradingsymbol, i.interval) for i in job.items] == [
        ("INFY", "minute")]
    async with pool.acquire() as conn:
        range_from = await conn.fetchval("SELECT range_from FROM job_items"
                                         " WHERE job_id = $1::uuid", job.id)
    assert to_ms(range_from) == int(old.ts[0])  # reaches back to the first provisional bar
    assert await queue.run_until_idle() == 1
    done = await queue.get(job.id)
    assert done.state == "done", done.items[0].error

    assert await store.provisional_count(token, "minute") == 0
    for frame in (old, today):
        start = datetime.fromtimestamp(int(frame.ts[0]) / 1000, IST)
        end = datetime.fromtimestamp(int(frame.ts[-1]) / 1000 + 60, IST)
        stored = await reader.read(pool, token, "minute", start, end)
        assert stored.ts.tolist() == frame.ts.tolist()
        assert stored.volume.tolist() == frame.volume.tolist()  # Kite's, not volume + 1
        assert stored.close.tolist() == frame.close.tolist()
    # the whole span from the first provisional bar on is now Kite's, every session complete
    sessions = 8  # 2025-11-10 .. 11-19 (Mon-Fri, Mon-Wed), no holiday
    total = await store.count(token, "minute", datetime(2025, 11, 10, tzinfo=IST),
                              datetime(2025, 11, 20, tzinfo=IST))
    assert total == sessions * 375 - (int(old.ts[0]) - to_ms(datetime(
        2025, 11, 10, 9, 15, tzinfo=IST))) // 60_000
