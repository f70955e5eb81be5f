"""Candles built from live ticks (WriteCandles, source "ticks") are stored provisional: read back
like any bar, never replacing a final (Kite) bar, and replaced by Kite's candle in the next
incremental fetch. Bad `source` is refused naming the field.

Real parts: the history service (`serve(build_spec(...))`, as `python -m services.history`
runs it) on an ephemeral gRPC port, a fresh PostgreSQL database, kitesim in-process (its own
API key, so the Redis rate-limit bucket is this module's alone) spoken to by kiteconnect.
Tests keep apart by symbol.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import grpc
import pytest
import pytest_asyncio

from mandi.core.candles import to_ms
from mandi.core.clock import IST
from mandi.platform.config import load_settings
from mandi.platform.db import create_pool
from mandi.platform.grpc_server import ServerReady, serve
from mandi.platform.status import grpc_error_to_domain
from mandi.testing.kitesim import KitesimServer, start_kitesim
from mandi.testing.pg import fresh_database
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import common_pb2, history_pb2, history_pb2_grpc
from services.history import dbinfo
from services.history.server import build_spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DAY = "2025-11-18"  # a Tuesday; kitesim's clock starts 2025-11-20 10:00 IST, so it is history


@dataclass
class Svc:
    sim: KitesimServer
    stub: history_pb2_grpc.HistoryServiceStub
    pool: asyncpg.Pool


@pytest.fixture(scope="module")
def sim() -> Iterator[KitesimServer]:
    server = start_kitesim(seed=5, rate_limits=False, api_key=f"h5_{uuid.uuid4().hex[:10]}")
    server.login()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def svc(sim: KitesimServer) -> AsyncIterator[Svc]:
    async with fresh_database() as dsn:
        settings = load_settings({
            "MANDI_PG_DSN": dsn, "MANDI_KITE_ROOT": sim.url, "MANDI_KITE_API_KEY": sim.api_key,
            "MANDI_KITE_API_SECRET": sim.api_secret, "MANDI_CLOCK": "sim",
            "MANDI_KITE_HISTORICAL_RATE": "50", "MANDI_SHUTDOWN_GRACE_S": "1"})
        ready, stop = ServerReady(), asyncio.Event()
        server = asyncio.create_task(serve(build_spec(settings), settings, port=0,
                                           metrics_port=-1, ready=ready, stop=stop))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({waiter, server}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():
            waiter.cancel()
            raise RuntimeError(f"history service did not start: {server}")
        channel = signed_aio_channel(f"127.0.0.1:{ready.port}")
        pool = await create_pool(dsn, schema="history")
        try:
            yield Svc(sim, history_pb2_grpc.HistoryServiceStub(channel), pool)
        finally:
            await pool.close()
            await channel.close()
            stop.set()
            await asyncio.wait_for(server, 30)


# --- helpers --------------------------------------------------------------------------------
def at(ist: str) -> datetime:
    return datetime.fromisoformat(ist).replace(tzinfo=IST)


def candle(when: datetime, o: float, h: float, lo: float, c: float, v: int) -> common_pb2.Candle:
    out = common_pb2.Candle(open=o, high=h, low=lo, close=c, volume=v)
    out.ts.FromDatetime(when)
    return out


async def token_of(svc: Svc, symbol: str) -> int:
    ref = common_pb2.SymbolRef(exchange=common_pb2.EXCHANGE_NSE, tradingsymbol=symbol)
    resp = await svc.stub.LookupInstrument(history_pb2.LookupInstrumentRequest(symbol=ref))
    return resp.instrument.instrument_token


async def write(svc: Svc, token: int, interval: str, candles: list[common_pb2.Candle], *,
                source: str = "", overwrite: bool = False) -> int:
    resp = await svc.stub.WriteCandles(history_pb2.WriteCandlesRequest(
        instrument_token=token, interval=interval, candles=candles, overwrite=overwrite,
        source=source))
    assert resp.rows_invalid == 0
    return resp.written


async def read(svc: Svc, token: int, interval: str, start: datetime,
               end: datetime) -> list[tuple]:
    """(ts ms, open, high, low, close, volume) of the stored bars in [start, end), by gRPC."""
    req = history_pb2.GetCandlesRequest(
        instrument=common_pb2.InstrumentRef(instrument_token=token), interval=interval)
    getattr(req, "from").FromDatetime(start)
    req.to.FromDatetime(end)
    out: list[tuple] = []
    async for msg in svc.stub.GetCandles(req):
        b = msg.batch
        out += list(zip(b.ts_unix_ms, b.open, b.high, b.low, b.close, b.volume, strict=True))
    return out


async def provisional_flags(svc: Svc, token: int, interval: str) -> dict[int, bool]:
    async with svc.pool.acquire() as conn:
        rows = await conn.fetch("SELECT ts, provisional FROM ohlcv WHERE instrument_token = $1"
                                " AND interval = $2", token, interval)
    return {to_ms(r["ts"]): r["provisional"] for r in rows}


def kite_rows(sim: KitesimServer, token: int, interval: str, day: str = DAY) -> list[tuple]:
    return [(to_ms(r["date"]), r["open"], r["high"], r["low"], r["close"], r["volume"])
            for r in sim.kite().historical_data(token, day, day, interval)]


def as_candles(rows: list[tuple], *, extra_volume: int = 0) -> list[common_pb2.Candle]:
    return [candle(datetime.fromtimestamp(ts / 1000, IST), o, h, lo, c, v + extra_volume)
            for ts, o, h, lo, c, v in rows]


# --- tests ----------------------------------------------------------------------------------
async def test_tick_candles_are_stored_provisional_and_read_back(svc: Svc) -> None:
    token = await token_of(svc, "INFY")
    bars = [candle(at(f"{DAY} 09:{15 + i}"), 1500.0 + i, 1502.0 + i, 1499.0 + i, 1501.0 + i,
                   1000 + i) for i in range(3)]
    assert await write(svc, token, "minute", bars, source="ticks") == 3

    got = await read(svc, token, "minute", at(f"{DAY} 09:15"), at(f"{DAY} 09:18"))
    assert got == [(to_ms(at(f"{DAY} 09:{15 + i}")), 1500.0 + i, 1502.0 + i, 1499.0 + i,
                    1501.0 + i, 1000 + i) for i in range(3)]
    assert set((await provisional_flags(svc, token, "minute")).values()) == {True}
    info = await dbinfo.database_info(svc.pool, "EQUITY")
    infy = next(d for d in info["dataset_list"] if d["tradingsymbol"] == "INFY")
    assert (infy["rows"], infy["provisional_rows"]) == (3, 3)


async def test_tick_write_never_replaces_a_final_bar_and_a_final_write_replaces_ticks(
    svc: Svc,
) -> None:
    token = await token_of(svc, "ITC")
    t1, t2 = at(f"{DAY} 10:00"), at(f"{DAY} 10:01")
    final = candle(t1, 400.0, 401.0, 399.0, 400.5, 5000)
    assert await write(svc, token, "minute", [final]) == 1  # source "": a final bar

    # ticks at the same minute, even with overwrite, leave the final bar as it is
    other = candle(t1, 410.0, 411.0, 409.0, 410.5, 5001)
    assert await write(svc, token, "minute", [other], source="ticks", overwrite=True) == 0
    assert await write(svc, token, "minute", [other], source="ticks") == 0
    assert await read(svc, token, "minute", t1, t2) == [
        (to_ms(t1), 400.0, 401.0, 399.0, 400.5, 5000)]
    assert await provisional_flags(svc, token, "minute") == {to_ms(t1): False}

    # a provisional bar: kept by a tick write without overwrite, replaced with it
    tick = candle(t2, 400.5, 402.0, 400.0, 401.0, 700)
    assert await write(svc, token, "minute", [tick], source="ticks") == 1
    later = candle(t2, 400.5, 402.5, 400.0, 401.5, 900)
    assert await write(svc, token, "minute", [tick], source="ticks") == 0
    assert await write(svc, token, "minute", [later], source="ticks", overwrite=True) == 1
    assert (await read(svc, token, "minute", t2, at(f"{DAY} 10:02")))[0][-1] == 900
    # a final bar replaces a provisional one even without overwrite, and is then final
    kite = candle(t2, 400.5, 402.5, 400.0, 401.25, 950)
    assert await write(svc, token, "minute", [kite]) == 1
    assert await read(svc, token, "minute", t2, at(f"{DAY} 10:02")) == [
        (to_ms(t2), 400.5, 402.5, 400.0, 401.25, 950)]
    assert await provisional_flags(svc, token, "minute") == {to_ms(t1): False,
                                                             to_ms(t2): False}


@pytest.mark.parametrize("source", ["kite", "TICKS", "tick", " ticks"])
async def test_write_candles_with_an_unknown_source_is_refused_naming_source(
    svc: Svc, source: str,
) -> None:
    token = await token_of(svc, "WIPRO")
    t = at(f"{DAY} 11:00")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await write(svc, token, "minute", [candle(t, 250.0, 251.0, 249.0, 250.5, 10)],
                    source=source)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert grpc_error_to_domain(err.value).field == "source"
    assert "source" in err.value.details()
    assert await read(svc, token, "minute", t, at(f"{DAY} 11:01")) == []


async def test_incremental_fetch_replaces_tick_candles_with_kites(svc: Svc) -> None:
    token = await token_of(svc, "TCS")
    kite = kite_rows(svc.sim, token, "minute")
    assert len(kite) == 375
    # the morning stored final (as a fetch would), 12:00-12:29 built from ticks and, on
    # purpose, different from Kite's (volume + 1); the afternoon not stored at all
    noon = next(i for i, r in enumerate(kite) if r[0] == to_ms(at(f"{DAY} 12:00")))
    assert await write(svc, token, "minute", as_candles(kite[:noon])) == noon
    assert await write(svc, token, "minute", as_candles(kite[noon:noon + 30], extra_volume=1),
                       source="ticks") == 30
    flags = await provisional_flags(svc, token, "minute")
    assert sum(flags.values()) == 30

    req = history_pb2.FetchRequest(
        instrument=common_pb2.InstrumentRef(instrument_token=token), interval="minute",
        options=history_pb2.FetchOptions(incremental=True, validate=True))
    getattr(req, "from").FromDatetime(at(f"{DAY} 00:00"))
    req.to.FromDatetime(at(f"{DAY} 23:59"))
    progress = [p async for p in svc.stub.Fetch(req)]
    summary = progress[-1].summary
    assert progress[-1].done
    # the 30 provisional bars were fetched and rewritten along with the 375 - noon - 30 new
    # ones; had they counted as stored, records would be 30 less
    assert summary.records == 375 - noon

    got = await read(svc, token, "minute", at(f"{DAY} 09:15"), at(f"{DAY} 15:30"))
    assert got == kite
    assert set((await provisional_flags(svc, token, "minute")).values()) == {False}
