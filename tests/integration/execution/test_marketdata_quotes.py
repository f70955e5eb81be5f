"""Execution reads prices from the marketdata service (issue #11, "consumers move over").

The execution process as `make run` wires it (Runtime) against real parts: the marketdata gRPC
server and the history service on sockets, PostgreSQL, Redis, kitesim behind history and behind
the REST fallback. The test plays marketdata's ingester, publishing ticks whose prices only the
ticks carry (kitesim's own quote is ₹50 away), so a fill at the tick's ask proves the price came
from marketdata and not from Kite's quote API. Then: marketdata stops → REST fallback, counted;
marketdata returns → ticks again; and Kite order postbacks arrive through marketdata's Redis
channel, with no socket of execution's own.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from mandi.core.money import rupees_to_paise
from mandi.testing.kitesim import KitesimServer
from services.execution import metrics
from services.execution.brokers.kite import postback_checksum
from services.execution.market_stream import StreamedMarketData
from services.execution.orders import OrderSpec
from services.execution.postbacks import postback_channel
from services.execution.sync import mark_to_market, sync_account
from services.execution.wiring import PAPER_ACCOUNT, Runtime
from services.execution.worker import Worker
from tests.integration.market_stack import MarketStack, full_tick, market_stack, own_kitesim

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

AWAY = 5000  # paise: the ticks' prices sit ₹50 above kitesim's own quote


@pytest.fixture(scope="module")
def sim() -> Iterator[KitesimServer]:
    with own_kitesim(21, "h4") as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(sim: KitesimServer) -> AsyncIterator[MarketStack]:
    async with market_stack(sim) as s:
        yield s


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rt(stack: MarketStack) -> AsyncIterator[Runtime]:
    settings = stack.settings(MANDI_MARKETDATA_ADDR=stack.md_addr)
    runtime = Runtime(settings, run_worker=False)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def paper_data(rt: Runtime) -> StreamedMarketData:
    assert rt.engine is not None
    broker = rt.engine.brokers.get(await rt.engine.accounts.get(PAPER_ACCOUNT))
    assert isinstance(broker.data, StreamedMarketData)
    return broker.data


def kite_last(sim: KitesimServer, key: str) -> int:
    return rupees_to_paise(sim.kite().quote([key])[key]["last_price"])


async def streamed(rt: Runtime, stack: MarketStack, key: str, last: int, *, spread: int = 10
                   ) -> int:
    """Publish ticks of `key` at `last` until execution's stream holds that price; its token."""
    assert rt.ticks is not None
    exchange, _, symbol = key.partition(":")
    token = await stack.token_of(exchange, symbol)

    async def arrived() -> bool:
        got, _ = await rt.ticks.quotes([key])
        return key in got and got[key].last_paise == last

    await stack.publish_until(
        lambda: full_tick(token, last, bid_paise=last - spread, ask_paise=last + spread),
        arrived, f"a tick of {key} at {last} through marketdata")
    return token


async def market_buy(rt: Runtime, symbol: str) -> tuple[str, int]:
    assert rt.engine is not None
    row, _ = await rt.engine.place(PAPER_ACCOUNT, OrderSpec(
        client_order_id=uuid.uuid4().hex[:16], exchange="NSE", tradingsymbol=symbol,
        side="BUY", quantity=1, order_type="MARKET", product="CNC", allow_duplicate=True))
    fill = await rt.engine.relaxed_pool.fetchrow(
        "SELECT status, average_price_paise FROM paper_orders WHERE account_id = $1"
        " AND tag = $2", PAPER_ACCOUNT, row["tag"])
    return fill["status"], fill["average_price_paise"]


async def test_paper_order_fills_at_the_ask_of_marketdata_ticks_not_a_rest_quote(
        rt: Runtime, stack: MarketStack, sim: KitesimServer) -> None:
    data = await paper_data(rt)
    last = kite_last(sim, "NSE:INFY") + AWAY
    await streamed(rt, stack, "NSE:INFY", last)
    before = dict(data.fallbacks)

    status, price = await market_buy(rt, "INFY")

    assert (status, price) == ("COMPLETE", last + 10)  # the tick's ask, a price Kite never quoted
    assert data.fallbacks == before  # no REST quote was needed for the order or its checks
    # mark-to-market (and the trailing stops it refreshes) reads the same ticks
    moved = last + 250
    await streamed(rt, stack, "NSE:INFY", moved)
    assert rt.engine is not None
    account = await rt.engine.accounts.get(PAPER_ACCOUNT)
    await sync_account(rt.engine, account)  # the fill reaches the ledger: an open position
    await mark_to_market(rt.engine, account, rt.engine.brokers.get(account), force=True)
    marked = await rt.engine.pool.fetchval(
        "SELECT last_price_paise FROM positions WHERE account_id = $1 AND tradingsymbol = 'INFY'"
        " AND status = 'open'", PAPER_ACCOUNT)
    assert marked == moved
    assert data.fallbacks == before
    # a Kite account's quotes read the same stream
    kite_account = next(a for a in await rt.engine.accounts.list() if a.broker == "kite")
    kite_quote = (await rt.engine.brokers.get(kite_account).quotes(["NSE:INFY"]))["NSE:INFY"]
    assert (kite_quote.last_paise, kite_quote.bid_paise, kite_quote.ask_paise) == (
        moved, moved - 10, moved + 10)


async def test_quote_when_ticks_are_stale_falls_back_to_rest_and_counts_it(
        rt: Runtime, stack: MarketStack, sim: KitesimServer) -> None:
    data = await paper_data(rt)
    assert rt.ticks is not None
    last = kite_last(sim, "NSE:TCS") + AWAY
    await streamed(rt, stack, "NSE:TCS", last)
    stale_before = data.fallbacks["stale"]
    rt.ticks.fresh_s = 0.0  # every tick held is now too old
    try:
        q = (await data.quotes(["NSE:TCS"]))["NSE:TCS"]
    finally:
        rt.ticks.fresh_s = 3.0
    assert data.fallbacks["stale"] == stale_before + 1
    assert abs(q.last_paise - (last - AWAY)) < AWAY // 2  # Kite's price, not the tick's


async def test_quote_of_an_instrument_marketdata_refuses_falls_back_as_unknown(
        rt: Runtime) -> None:
    data = await paper_data(rt)
    unknown_before = data.fallbacks["unknown"]
    assert await data.quotes(["NSE:NOSUCHSYMBOL"]) == {}  # Kite does not know it either
    assert data.fallbacks["unknown"] == unknown_before + 1
    assert rt.ticks is not None and "NSE:NOSUCHSYMBOL" not in rt.ticks.subscribed()


async def test_quotes_when_marketdata_is_down_come_from_rest_then_from_ticks_when_it_returns(
        rt: Runtime, stack: MarketStack, sim: KitesimServer) -> None:
    data = await paper_data(rt)
    assert rt.ticks is not None
    tick_last = kite_last(sim, "NSE:SBIN") + AWAY
    await streamed(rt, stack, "NSE:SBIN", tick_last)
    assert rt.ticks.up

    await stack.stop_marketdata()
    deadline = time.monotonic() + 10
    while rt.ticks.up:  # the stream's end has no event of ours to await: poll, bounded
        assert time.monotonic() < deadline, "execution did not notice marketdata stopping"
        await asyncio.sleep(0.02)
    down_before = data.fallbacks["down"]
    status, price = await market_buy(rt, "SBIN")
    assert status == "COMPLETE"
    assert abs(price - (tick_last - AWAY)) < AWAY // 2  # filled on Kite's quote, not a tick
    assert data.fallbacks["down"] > down_before
    assert metrics.QUOTE_FALLBACKS.labels("down")._value.get() >= data.fallbacks["down"]

    await stack.start_marketdata()  # the registry lives in Redis: the stream just reconnects
    back = tick_last + 500
    await streamed(rt, stack, "NSE:SBIN", back)
    fallbacks = dict(data.fallbacks)
    status, price = await market_buy(rt, "SBIN")
    assert (status, price) == ("COMPLETE", back + 10)
    assert data.fallbacks == fallbacks


async def test_kite_postback_from_marketdata_channel_updates_the_ledger_without_a_socket(
        rt: Runtime, stack: MarketStack, sim: KitesimServer) -> None:
    engine = rt.engine
    assert engine is not None
    kite_account = next(a for a in await engine.accounts.list() if a.broker == "kite")
    broker = engine.brokers.get(kite_account)
    assert broker.capabilities.push_updates and broker.ws_root == ""  # no socket of its own
    far = kite_last(sim, "NSE:ITC") * 97 // 100 // 5 * 5  # rests (within the 5 % collar)
    row, _ = await engine.place(kite_account.account_id, OrderSpec(
        client_order_id=uuid.uuid4().hex[:16], exchange="NSE", tradingsymbol="ITC",
        side="BUY", quantity=1, order_type="LIMIT", product="CNC", price_paise=far))
    assert row["status"] in ("OPEN", "PENDING")
    worker = Worker(engine, poll_interval_s=3600)
    await worker.run_once()  # one pass: the order is OPEN, and the postback listener runs
    try:
        status = await engine.pool.fetchval("SELECT status FROM orders WHERE order_id = $1",
                                            row["order_id"])
        assert status == "OPEN"
        broker_id = await engine.pool.fetchval(
            "SELECT broker_order_id FROM orders WHERE order_id = $1", row["order_id"])
        # cancelled at Kite behind execution's back: only a postback can tell it now
        await asyncio.to_thread(sim.kite().cancel_order, "regular", broker_id)
        data = sim.raw(f"/orders/{broker_id}")["data"][-1]
        assert data["status"] == "CANCELLED"
        forged = {**data, "checksum": "0" * 64}
        good = {**data, "checksum": postback_checksum(
            str(data["order_id"]), str(data["order_timestamp"]), sim.api_secret)}
        channel = postback_channel(stack.prefix)
        bad_before = metrics.POSTBACKS.labels("bad_checksum")._value.get()
        deadline = time.monotonic() + 15
        while True:  # pub/sub: repeat until the listener has subscribed and applied it
            await stack.ns.client.publish(channel, json.dumps(forged))
            await asyncio.sleep(0.05)
            assert await engine.pool.fetchval(
                "SELECT status FROM orders WHERE order_id = $1", row["order_id"]) == "OPEN"
            if metrics.POSTBACKS.labels("bad_checksum")._value.get() > bad_before:
                break
            assert time.monotonic() < deadline, "the forged postback never reached execution"
        while True:
            await stack.ns.client.publish(channel, json.dumps(good))
            status = await engine.pool.fetchval(
                "SELECT status FROM orders WHERE order_id = $1", row["order_id"])
            if status == "CANCELLED":
                break
            assert time.monotonic() < deadline, f"postback not applied (status {status})"
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()

