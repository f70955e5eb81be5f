"""`/api/v1/market`: last prices from marketdata (subscribing on first use) and today's candles
from history, through the gateway under uvicorn — real sockets all the way: the marketdata gRPC
server, the history service, PostgreSQL, Redis, kitesim behind history.

The test plays marketdata's ingester: it publishes ticks through a second MarketBus once the
gateway's Subscribe shows in the registry, and writes candles to history the way marketdata's
ingester does (WriteCandles, source "ticks" for bars built from ticks, "" for backfilled ones).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import httpx
import pytest
import pytest_asyncio
import uvicorn
import websockets

from mandi.core.clock import IST
from mandi.testing.gateway_auth import ADMIN_ENV, GatewayLogin
from mandi.testing.kitesim import KitesimServer, free_port
from mandi.v1 import history_pb2
from services.gateway.app import create_app
from tests.integration.gateway.kit import candle
from tests.integration.market_stack import MarketStack, full_tick, market_stack, own_kitesim

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

TODAY, YESTERDAY = "2025-11-20", "2025-11-19"  # kitesim starts 2025-11-20 10:00 IST


@pytest.fixture(scope="module")
def sim() -> Iterator[KitesimServer]:
    with own_kitesim(23, "h4g") as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(sim: KitesimServer) -> AsyncIterator[MarketStack]:
    async with market_stack(sim) as s:
        yield s


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(stack: MarketStack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(stack.settings(MANDI_MARKETDATA_ADDR=stack.md_addr, **ADMIN_ENV))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 60
    while not server.started:  # uvicorn offers no event to await: poll, bounded
        assert not task.done() and time.monotonic() < deadline, f"gateway did not start: {task}"
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                     auth=GatewayLogin()) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def refs(stack: MarketStack, token: int) -> int:
    reg = (await stack.bus.registry()).get(token)
    return reg.refs if reg is not None else 0


# --- ltp -------------------------------------------------------------------------------------
async def test_ltp_when_first_asked_subscribes_and_answers_the_first_ticks(
        stack: MarketStack, http: httpx.AsyncClient) -> None:
    infy, sbin = await stack.token_of("NSE", "INFY"), await stack.token_of("NSE", "SBIN")
    ets = int(datetime(2025, 11, 20, 10, 0, 5, tzinfo=IST).timestamp())
    request = asyncio.create_task(http.get("/api/v1/market/ltp",
                                           params={"symbols": "nse:infy, NSE:SBIN"}))
    deadline = time.monotonic() + 15
    while not (await refs(stack, infy) and await refs(stack, sbin)):  # the gateway subscribed
        assert not request.done(), request.result().text
        assert time.monotonic() < deadline, "the gateway never subscribed"
        await asyncio.sleep(0.02)
    await stack.bus.publish(full_tick(infy, 151_025, bid_paise=151_020, ask_paise=151_030,
                                      exchange_ts=ets))
    await stack.bus.publish(full_tick(sbin, 81_235, bid_paise=81_230, ask_paise=81_240,
                                      exchange_ts=ets + 1))
    r = await request
    assert r.status_code == 200, r.text
    assert r.json() == {"ltp": {
        "NSE:INFY": {"last_price": 1510.25, "ts": "2025-11-20T10:00:05+05:30"},
        "NSE:SBIN": {"last_price": 812.35, "ts": "2025-11-20T10:00:06+05:30"}}, "note": None}

    # asked again: answered from marketdata's cache, no second reference taken
    await stack.bus.publish(full_tick(infy, 151_100, bid_paise=151_095, ask_paise=151_105,
                                      exchange_ts=ets + 2))
    again = (await http.get("/api/v1/market/ltp", params={"symbols": "NSE:INFY"})).json()
    assert again["ltp"]["NSE:INFY"]["last_price"] == 1511.0
    assert (await refs(stack, infy), await refs(stack, sbin)) == (1, 1)


async def test_ltp_when_no_tick_arrives_reports_the_symbol_as_null_with_a_note(
        stack: MarketStack, http: httpx.AsyncClient) -> None:
    r = await http.get("/api/v1/market/ltp", params={"symbols": "NSE:TCS"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ltp"] == {"NSE:TCS": None}
    assert "NSE:TCS" in body["note"]
    assert await refs(stack, await stack.token_of("NSE", "TCS")) == 1  # subscribed all the same


async def test_live_candles_socket_on_a_new_subscription_waits_for_the_first_price(
        stack: MarketStack, http: httpx.AsyncClient) -> None:
    """A chart's live candles for an instrument nobody had subscribed: the snapshot carries the
    first tick's price (waited for up to 2 s), not null until the first candle closes."""
    hdfc = await stack.token_of("NSE", "HDFCBANK")
    ets = int(datetime(2025, 11, 20, 10, 0, 9, tzinfo=IST).timestamp())
    await http.get("/api/v1/market/ltp", params={"symbols": "NSE:INFY"})  # logs in
    token = http.auth.token  # type: ignore[union-attr]
    url = str(http.base_url).replace("http://", "ws://") + \
        f"/ws/market/NSE:HDFCBANK?interval=minute&token={token}"

    async def first_tick() -> None:
        deadline = time.monotonic() + 15
        while not await refs(stack, hdfc):  # the gateway subscribed it for the socket
            assert time.monotonic() < deadline, "the gateway never subscribed"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # the snapshot is being read: the price is not there yet
        await stack.bus.publish(full_tick(hdfc, 98_765, bid_paise=98_760, ask_paise=98_770,
                                          exchange_ts=ets))

    tick = asyncio.create_task(first_tick())
    async with websockets.connect(url) as ws:
        snapshot = json.loads(await asyncio.wait_for(ws.recv(), 15))
    await tick
    assert snapshot["type"] == "snapshot", snapshot
    assert snapshot["data"]["last_price"] == 987.65, snapshot


@pytest.mark.parametrize(("symbols", "status", "words"), [
    ("INFY", 400, "not EXCHANGE:SYMBOL"),
    ("XYZ:INFY", 400, "unknown exchange"),
    (",,", 400, "EXCHANGE:SYMBOL"),
    ("NSE:INFY,NSE:NOSUCHSYMBOL", 404, "NSE:NOSUCHSYMBOL"),
])
async def test_ltp_when_symbols_are_bad_answers_the_error_envelope_naming_symbols(
        http: httpx.AsyncClient, symbols: str, status: int, words: str) -> None:
    r = await http.get("/api/v1/market/ltp", params={"symbols": symbols})
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and body["error"].startswith("symbols")
    assert words in body["error"]


async def test_ltp_without_symbols_is_a_400_naming_the_parameter(
        http: httpx.AsyncClient) -> None:
    r = await http.get("/api/v1/market/ltp")
    assert r.status_code == 400
    assert r.json()["error_type"] == "validation" and "symbols" in r.json()["error"]


# --- candles ---------------------------------------------------------------------------------
async def write(stack: MarketStack, token: int, candles, source: str) -> None:
    resp = await stack.history.WriteCandles(history_pb2.WriteCandlesRequest(
        instrument_token=token, interval="minute", candles=candles, source=source))
    assert (resp.written, resp.rows_invalid) == (len(candles), 0)


async def test_candles_default_to_todays_session_from_ticks_and_backfill(
        stack: MarketStack, http: httpx.AsyncClient) -> None:
    token = await stack.token_of("NSE", "HDFCBANK")
    await write(stack, token, [candle(f"{YESTERDAY} 15:29", 990.0, 991.0, 989.0, 990.5, 700)],
                "")
    await write(stack, token, [candle(f"{TODAY} 09:15", 1000.0, 1002.5, 999.0, 1001.0, 5000),
                               candle(f"{TODAY} 09:16", 1001.0, 1001.5, 998.0, 999.5, 3000,
                                      oi=0)], "")  # backfilled (Kite's)
    await write(stack, token, [candle(f"{TODAY} 09:17", 999.5, 1003.0, 999.0, 1002.0, 4200)],
                "ticks")  # built from ticks: provisional
    r = await http.get("/api/v1/market/candles/NSE/HDFCBANK", params={"interval": "minute"})
    assert r.status_code == 200, r.text
    assert r.json() == {"candles": [
        {"ts": "2025-11-20T09:15:00+05:30", "open": 1000.0, "high": 1002.5, "low": 999.0,
         "close": 1001.0, "volume": 5000, "oi": 0},
        {"ts": "2025-11-20T09:16:00+05:30", "open": 1001.0, "high": 1001.5, "low": 998.0,
         "close": 999.5, "volume": 3000, "oi": 0},
        {"ts": "2025-11-20T09:17:00+05:30", "open": 999.5, "high": 1003.0, "low": 999.0,
         "close": 1002.0, "volume": 4200, "oi": 0}]}

    # from/to widen or narrow it (IST; a bare date's `to` is inclusive)
    wide = await http.get("/api/v1/market/candles/nse/hdfcbank",
                          params={"interval": "1min", "from": YESTERDAY, "to": TODAY})
    assert [c["ts"] for c in wide.json()["candles"]][:2] == [
        "2025-11-19T15:29:00+05:30", "2025-11-20T09:15:00+05:30"]
    narrow = await http.get("/api/v1/market/candles/NSE/HDFCBANK", params={
        "interval": "minute", "from": f"{TODAY} 09:16", "to": f"{TODAY} 09:17"})
    assert [c["ts"] for c in narrow.json()["candles"]] == ["2025-11-20T09:16:00+05:30"]


@pytest.mark.parametrize(("path", "params", "status", "field"), [
    ("NSE/INFY", {"interval": "day"}, 400, "interval"),
    ("NSE/INFY", {"interval": "7minute"}, 400, "interval"),
    ("NSE/INFY", {"from": f"{TODAY} 12:00", "to": f"{TODAY} 10:00"}, 400, "from"),
    ("NSE/INFY", {"from": "yesterday"}, 400, "from"),
    ("XYZ/INFY", {}, 400, "exchange"),
    ("NSE/NOSUCHSYMBOL", {}, 404, "symbol"),
])
async def test_candles_when_input_is_bad_answer_the_error_envelope_naming_the_field(
        http: httpx.AsyncClient, path: str, params: dict, status: int, field: str) -> None:
    r = await http.get(f"/api/v1/market/candles/{path}", params=params)
    assert r.status_code == status, r.text
    body = r.json()
    # the field leads the message ("interval 'day' is …", "unknown exchange …", "symbol: …")
    assert body["success"] is False and re.match(rf"(unknown )?{field}\b", body["error"]), body
