"""Finding D: Kite (and now kitesim) serves the still-forming candle mid-session. A fetch then
must not store it as final, and the next incremental update must store Kite's final bar.

Real parts: kitesim over HTTP through kiteconnect, PostgreSQL. The fetcher's clock is a
TestClock moved in step with kitesim's (frozen) clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from mandi.core.clock import IST, TestClock
from mandi.core.intervals import parse_interval
from mandi.kite.client import KiteClient
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.testing.kitesim import KitesimServer, start_kitesim
from services.history import reader
from services.history.fetcher import Fetcher, FetchOptions
from services.history.instruments import InstrumentRecord
from services.history.store import CandleStore

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "history" / "migrations"
MID = datetime(2025, 11, 19, 10, 7, 30, tzinfo=IST)  # 30 s into the 10:07 minute
AFTER = datetime(2025, 11, 19, 15, 45, tzinfo=IST)
FROZEN = 1e-6  # kitesim speed: its clock stands still for the test
INCREMENTAL = FetchOptions(incremental=True)


@pytest.fixture(scope="module")
def sim() -> Iterator[KitesimServer]:
    server = start_kitesim(rate_limits=False, start=MID, speed=FROZEN)
    server.login()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture
async def kite(sim: KitesimServer) -> AsyncIterator[KiteClient]:
    client = KiteClient(sim.api_key, access_token=sim.access_token, root=sim.url)
    try:
        yield client
    finally:
        await client.close()


@pytest_asyncio.fixture
async def pool(pg_dsn: str):
    await run_migrations(pg_dsn, "history", MIGRATIONS)
    p = await create_pool(pg_dsn, schema="history")
    try:
        yield p
    finally:
        await p.close()


def infy(sim: KitesimServer) -> InstrumentRecord:
    row = next(i for i in sim.kite().instruments("NSE") if i["tradingsymbol"] == "INFY")
    return InstrumentRecord(row["instrument_token"], row["exchange_token"], "NSE", "INFY",
                            row["name"], row["segment"], row["instrument_type"], None, 0, 5,
                            1, 0, "", True, date(2025, 11, 19))


def set_clocks(sim: KitesimServer, clock: TestClock, when: datetime) -> None:
    sim.admin("clock", {"now": when.isoformat(), "speed": FROZEN})
    clock.set(when)


def kite_bar(sim: KitesimServer, interval: str, at: str) -> dict:
    (row,) = [r for r in sim.kite().historical_data(408065, "2025-11-19", "2025-11-19", interval)
              if r["date"].strftime("%H:%M") == at]
    return row


async def stored_bar(pool, token: int, interval: str, at: datetime) -> tuple:
    frame = await reader.read(pool, token, interval, at, at.replace(second=1))
    assert len(frame) == 1, f"no stored {interval} bar at {at}"
    return (frame.open[0], frame.high[0], frame.low[0], frame.close[0], int(frame.volume[0]))


@pytest.mark.parametrize("interval, bar_at, n_mid, n_day", [
    # 09:15..10:06 are final at 10:07:30 (52 bars); a session has 375
    ("minute", "10:07", 52, 375),
    # 09:15..10:00 final: (10:05 - 09:15) / 5 = 10 bars; 10:05 is forming; 375 / 5 = 75
    ("5minute", "10:05", 10, 75),
    ("day", "00:00", 0, 1),
])
async def test_mid_session_fetch_then_update_stores_kites_final_bar(
    sim: KitesimServer, kite: KiteClient, pool, interval: str, bar_at: str, n_mid: int,
    n_day: int,
) -> None:
    clock = TestClock(MID)
    set_clocks(sim, clock, MID)
    store = CandleStore(pool)
    fetcher = Fetcher(kite, store, clock, limiter=None)
    inst = infy(sim)
    iv = parse_interval(interval)
    start, end = datetime(2025, 11, 19, tzinfo=IST), datetime(2025, 11, 19, 23, 59, tzinfo=IST)
    forming = kite_bar(sim, interval, bar_at)  # what Kite serves at 10:07:30
    first = await fetcher.fetch(inst, iv, start, end)  # a user's plain fetch mid-session
    assert first.issues == {"forming bar": 1}
    assert first.records == n_mid
    assert await store.count(inst.instrument_token, interval) == n_mid

    set_clocks(sim, clock, AFTER)
    try:
        update = await fetcher.fetch(inst, iv, start, end, INCREMENTAL)
        final = kite_bar(sim, interval, bar_at)
    finally:
        set_clocks(sim, clock, MID)
    assert update.records == n_day - n_mid and "forming bar" not in update.issues
    assert await store.count(inst.instrument_token, interval) == n_day
    at = datetime.combine(date(2025, 11, 19), datetime.strptime(bar_at, "%H:%M").time(), IST)
    got = await stored_bar(pool, inst.instrument_token, interval, at)
    want = (final["open"], final["high"], final["low"], final["close"], final["volume"])
    assert got == pytest.approx(want)
    # and that final bar is not what Kite served while it was forming
    assert final["volume"] > forming["volume"]


async def test_update_overwrites_a_partial_bar_an_older_version_stored(
    sim: KitesimServer, kite: KiteClient, pool,
) -> None:
    """A store written before this fix can hold a bar Kite sent while it was forming. The
    tail request of the next incremental fetch takes the last stored bar back (no extra
    request) and overwrites it with the final one."""
    from mandi.core.candles import CandleFrame, to_ms

    clock = TestClock(MID)
    set_clocks(sim, clock, MID)
    store = CandleStore(pool)
    inst = infy(sim)
    rows = sim.kite().historical_data(408065, "2025-11-19", "2025-11-19", "minute")
    assert len(rows) == 53  # 09:15 .. 10:07, the last one forming at 10:07:30
    cols = {k: [r[k] for r in rows] for k in ("open", "high", "low", "close", "volume")}
    frame = CandleFrame.from_columns({"ts": [to_ms(r["date"]) for r in rows], **cols,
                                      "oi": [0] * len(rows)})
    assert await store.write(inst.instrument_token, "minute", frame, overwrite=False) == 53

    set_clocks(sim, clock, AFTER)
    try:
        fetcher = Fetcher(kite, store, clock, limiter=None)
        start = datetime(2025, 11, 19, tzinfo=IST)
        update = await fetcher.fetch(inst, parse_interval("minute"), start,
                                     start.replace(hour=23, minute=59), INCREMENTAL)
        final = kite_bar(sim, "minute", "10:07")
    finally:
        set_clocks(sim, clock, MID)
    # one request: the tail 10:07 .. 15:29 (the stored partial 10:07 included)
    assert update.requests == 1
    assert await store.count(inst.instrument_token, "minute") == 375
    got = await stored_bar(pool, inst.instrument_token, "minute",
                           datetime(2025, 11, 19, 10, 7, tzinfo=IST))
    want = (final["open"], final["high"], final["low"], final["close"], final["volume"])
    assert got == pytest.approx(want)
    assert final["volume"] > rows[-1]["volume"]  # the stored one really was partial
