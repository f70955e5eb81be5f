"""The acceptance scenario against kitesim with the unmodified kiteconnect client: a LIMIT buy
fills when the price crosses → an OCO GTT is placed → the price gaps through the stop → the GTT
fires and its stop-limit rests → the price comes back to that limit → the position is closed →
the trade row holds realized P&L and charges exact to the paisa. The same scenario through the
PaperBroker (quotes from the same simulator) books the same ledger, to the paisa.

Every price the ledgers compare is a resting LIMIT's own price (the entry and the stop-limit),
which both brokers fill at exactly. A marketable order on arrival takes the touch of the second
it arrives in, and kitesim's price path moves a tick or two every second, so an exit that fills
on arrival is worth whatever that second was: Kite and paper run seconds apart, and under load
the GTT fires a second later or earlier — comparing such exits across brokers was a flake."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from mandi.core.clock import IST, to_ist
from mandi.core.errors import AuthError, TemporaryError
from mandi.kite.client import KiteClient, session_from_request_token
from mandi.platform.db import create_pool
from mandi.platform.simclock import SimClock
from mandi.testing.kitesim import KitesimServer, logged_in_kitesim
from mandi.testing.redis import redis_namespace
from services.execution.accounts import AccountStore, CredentialBox, Credentials
from services.execution.brokers.base import BrokerOrderRequest
from services.execution.brokers.kite import KiteBroker
from services.execution.brokers.paper import PaperBroker
from services.execution.convert import order_to_proto
from services.execution.engine import BrokerRegistry, Engine
from services.execution.events import EventBus
from services.execution.marketdata import KiteMarketData
from services.execution.orders import OrderSpec, tag_for
from services.execution.sync import apply_update, sync_account
from tests.integration.execution.kit import new_account_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def engine(ledger_dsn: str, sim: KitesimServer) -> AsyncIterator[Engine]:
    pool = await create_pool(ledger_dsn, schema="execution")
    clock = SimClock(sim.url, resync_s=0.5)
    await clock.start()

    def factory(account: Any) -> Any:
        c = account.credentials
        client = KiteClient(c.api_key, access_token=c.access_token, root=c.root)
        if account.broker == "paper":
            return PaperBroker(pool, account.account_id, KiteMarketData(client), clock)
        return KiteBroker(client)

    async with redis_namespace() as ns:
        eng = Engine(pool, ns.client, clock, AccountStore(pool, CredentialBox("t")),
                     BrokerRegistry(factory), EventBus(ns.client, ns.prefix + "ev"),
                     redis_prefix=ns.prefix.rstrip(":"))
        eng.ltp_ttl_s = 0.0
        eng.mtm_interval_s = 0.0
        try:
            yield eng
        finally:
            await eng.brokers.close()
            await clock.close()
            await pool.close()


async def _until(engine: Engine, aid: str, check: Any, timeout_s: float = 15.0) -> Any:
    account, _ = await engine.account(aid)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        await sync_account(engine, account)
        got = await check()
        if got:
            return got
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.3)


async def _move(sim: KitesimServer, paise: int) -> None:
    """Move SBIN's price; the override starts at the next simulated second (until then kitesim
    shows the un-overridden price), so wait past it before looking."""
    sim.admin("price", {"exchange": "NSE", "tradingsymbol": "SBIN", "price": paise / 100})
    await asyncio.sleep(1.2)


async def _scenario(engine: Engine, sim: KitesimServer, broker: str,
                    replay: dict[str, Any] | None = None) -> dict[str, Any]:
    """Buy 7 SBIN with a resting LIMIT, let it fill, then drive the price through the stop.
    `replay` = an earlier run's result: the same start, limit and moves, so the two ledgers can
    be compared row for row."""
    aid = new_account_id()
    if replay is not None:
        await _move(sim, replay["start"])
    creds = Credentials(api_key=sim.api_key, access_token=sim.access_token or "", root=sim.url)
    await engine.accounts.create(aid, broker, credentials=creds)
    pool = engine.pool
    ltp = round(sim.kite().quote(["NSE:SBIN"])["NSE:SBIN"]["last_price"] * 100)
    limit = replay["limit"] if replay is not None else ltp - 500
    stop, target = limit - 1000, limit + 2000
    row, _ = await engine.place(aid, OrderSpec(
        client_order_id=f"{broker}-entry", exchange="NSE", tradingsymbol="SBIN", side="BUY",
        quantity=7, order_type="LIMIT", product="CNC", price_paise=limit,
        stop_loss_paise=stop, target_paise=target))
    assert row["status"] == "OPEN"
    await _move(sim, limit - 300)

    async def gtt_active() -> Any:
        return await pool.fetchrow("SELECT * FROM gtts WHERE account_id = $1"
                                   " AND status = 'active'", aid)

    g = await _until(engine, aid, gtt_active)
    legs = json.loads(g["legs"])
    assert [leg["role"] for leg in legs] == ["sl", "tp"]
    # The stop leg is a LIMIT sell 1 % under the trigger, down to the 5-paise tick (worked here,
    # not taken from services.execution.gtt): e.g. stop 845.20 × 0.99 = 836.748 → 836.70.
    sl_price = stop * 99 // 100 // 5 * 5
    assert legs[0]["price_paise"] == sl_price
    # Gap ₹5 under the stop-limit: the GTT fires and its sell is not marketable, so it rests.
    await _move(sim, sl_price - 500)

    async def resting_exit() -> Any:
        return await pool.fetchrow("SELECT * FROM orders WHERE account_id = $1"
                                   " AND purpose = 'gtt' AND status = 'OPEN'", aid)

    exit_order = await _until(engine, aid, resting_exit)
    assert exit_order["price_paise"] == sl_price and exit_order["side"] == "SELL"
    await _move(sim, sl_price + 500)  # back over the limit: the resting sell trades at it

    async def traded() -> Any:
        return await pool.fetchrow("SELECT * FROM trades WHERE account_id = $1", aid)

    trade = await _until(engine, aid, traded)
    fills = await pool.fetch("SELECT * FROM fills WHERE account_id = $1 ORDER BY ts", aid)
    return {"aid": aid, "trade": trade, "fills": fills, "limit": limit, "stop": stop,
            "sl_price": sl_price, "start": ltp}


async def _check_exact(engine: Engine, r: dict[str, Any]) -> None:
    trade, fills = r["trade"], r["fills"]
    entry, exit_ = fills[0], fills[-1]
    assert (entry["side"], exit_["side"]) == ("BUY", "SELL")
    assert trade["quantity"] == 7 and trade["exit_reason"] == "stop_loss"
    assert trade["entry_price_paise"] == entry["price_paise"]
    assert trade["exit_price_paise"] == exit_["price_paise"] < r["stop"]
    assert trade["realized_pnl_paise"] == (exit_["price_paise"] - entry["price_paise"]) * 7
    day = to_ist(exit_["ts"]).date()
    # CNC bought and sold the same day: intraday rates in force since 2024-10-01, written out
    # (not taken from mandi.core.charges): brokerage min(0.03 %, ₹20) per order, STT 0.025 % on
    # the sell, NSE txn 0.00307 % (IPFT included), SEBI 0.0001 %, stamp 0.003 % on the buy,
    # GST 18 % on brokerage + txn + SEBI; each rounded half-up to the paisa.
    assert day.isoformat() >= "2024-10-01"
    buy, sell = 7 * entry["price_paise"], 7 * exit_["price_paise"]

    def pct(amount: int, per_1e7: int) -> int:  # amount × per_1e7 / 10^7, half-up
        return (2 * amount * per_1e7 + 10**7) // (2 * 10**7)

    brokerage = min(pct(buy, 3000), 2000) + min(pct(sell, 3000), 2000)
    txn, sebi = pct(buy + sell, 307), pct(buy + sell, 10)
    fee = (brokerage + pct(sell, 2500) + txn + sebi + pct(buy, 300)
           + pct(brokerage + txn + sebi, 18 * 10**5))
    assert trade["charges_paise"] == fee
    assert trade["net_pnl_paise"] == trade["realized_pnl_paise"] - fee
    pool = engine.pool
    assert await pool.fetchval("SELECT status FROM positions WHERE account_id = $1",
                               r["aid"]) == "closed"
    assert await pool.fetchval("SELECT status FROM gtts WHERE account_id = $1",
                               r["aid"]) == "triggered"
    stats = await pool.fetchrow("SELECT * FROM daily_stats WHERE account_id = $1", r["aid"])
    assert stats["realized_pnl_paise"] == trade["net_pnl_paise"]


def _shape(engine_rows: dict[str, Any]) -> tuple:
    t = engine_rows["trade"]
    return (t["side"], t["quantity"], t["exit_reason"], t["segment"],
            [(f["side"], f["quantity"]) for f in engine_rows["fills"]])


def _money(rows: dict[str, Any]) -> tuple:
    t = rows["trade"]
    return (t["entry_price_paise"], t["exit_price_paise"], t["realized_pnl_paise"],
            t["charges_paise"], t["net_pnl_paise"])


async def test_kite_when_stop_hit_gtt_closes_position_trade_exact(
        engine: Engine, sim: KitesimServer) -> None:
    kite = await _scenario(engine, sim, "kite")
    await _check_exact(engine, kite)
    assert kite["fills"][0]["price_paise"] == kite["limit"]  # the crossing fills at the limit
    assert kite["fills"][-1]["price_paise"] == kite["sl_price"]  # the resting stop-limit too
    tags = [o["tag"] for o in sim.kite().orders()]
    assert tags.count(tag_for("kite-entry")) == 1  # the idempotency key travelled as the tag
    paper = await _scenario(engine, sim, "paper", replay=kite)
    await _check_exact(engine, paper)
    assert _shape(paper) == _shape(kite)
    assert paper["fills"][0]["price_paise"] == kite["limit"]  # a resting paper LIMIT too
    assert paper["fills"][-1]["price_paise"] == kite["sl_price"]
    assert _money(paper) == _money(kite)  # the same ledger, to the paisa


async def test_kite_when_token_expired_auth_error_once_then_no_calls_until_renewed(
        sim: KitesimServer) -> None:
    client = KiteClient(sim.api_key, access_token="expired-token", root=sim.url)
    calls = 0
    real = client.orders

    async def counted() -> Any:
        nonlocal calls
        calls += 1
        return await real()

    client.orders = counted  # type: ignore[method-assign]

    async def login() -> str:  # a token of its own: logout must not break other tests
        token = await asyncio.to_thread(sim.request_token)
        session = await session_from_request_token(sim.api_key, sim.api_secret, token,
                                                   root=sim.url)
        return session.access_token

    broker = KiteBroker(client, login=login)
    for _ in range(5):
        with pytest.raises(AuthError, match=r"session has expired|credentials"):
            await broker.orders()
    assert calls == 1  # one rejection from Kite, then fail fast: no retry storm
    assert await broker.renew_session()
    assert isinstance(await broker.orders(), list) and calls == 2
    await broker.logout()
    with pytest.raises(AuthError):
        await broker.orders()
    assert calls == 2
    await broker.close()


async def test_place_when_session_expired_rejects_order_with_auth_error(
        engine: Engine, sim: KitesimServer) -> None:
    aid = new_account_id()
    await engine.accounts.create(aid, "kite", credentials=Credentials(
        api_key=sim.api_key, access_token="stale", root=sim.url))
    ltp = round(sim.kite().quote(["NSE:SBIN"])["NSE:SBIN"]["last_price"] * 100)
    with pytest.raises(AuthError):
        await engine.place(aid, OrderSpec(
            client_order_id="auth-1", exchange="NSE", tradingsymbol="SBIN", side="BUY",
            quantity=1, order_type="LIMIT", product="CNC", price_paise=ltp))
    assert await engine.pool.fetchval("SELECT count(*) FROM orders WHERE account_id = $1",
                                      aid) == 0
    assert (await engine.accounts.get(aid)).session_state == "expired"


async def test_kite_order_stream_when_order_fills_postback_arrives_and_is_applied(
        engine: Engine, sim: KitesimServer) -> None:
    aid = new_account_id()
    await engine.accounts.create(aid, "kite", credentials=Credentials(
        api_key=sim.api_key, access_token=sim.access_token or "", root=sim.url))
    account = await engine.accounts.get(aid)
    client = KiteClient(sim.api_key, access_token=sim.access_token, root=sim.url)
    broker = KiteBroker(client, ws_root=sim.ws_url, api_secret=sim.api_secret)
    assert broker.capabilities.push_updates
    engine.brokers._brokers[aid] = broker  # this account's broker listens on the socket
    received: list[Any] = []

    async def listen() -> None:
        async for bo in broker.order_updates():
            received.append(bo)
            await apply_update(engine, account, broker, bo)

    def sockets() -> int:
        return len(sim.admin("ticker")["connections"])

    before = await asyncio.to_thread(sockets)
    task = asyncio.create_task(listen())
    try:
        # The postback goes only to sockets open when the order fills: wait until kitesim
        # counts ours (a bounded poll; a fixed sleep lost the race on a loaded machine).
        deadline = asyncio.get_running_loop().time() + 30
        while await asyncio.to_thread(sockets) <= before:
            assert asyncio.get_running_loop().time() < deadline, "order socket never opened"
            await asyncio.sleep(0.1)
        ltp = round(sim.kite().quote(["NSE:SBIN"])["NSE:SBIN"]["last_price"] * 100)
        row, _ = await engine.place(aid, OrderSpec(
            client_order_id="push-1", exchange="NSE", tradingsymbol="SBIN", side="BUY",
            quantity=2, order_type="LIMIT", product="CNC", price_paise=ltp + 100))
        for _ in range(300):  # no sync_account here: only the pushed update can complete it
            got = await engine.pool.fetchrow("SELECT * FROM orders WHERE order_id = $1",
                                             row["order_id"])
            if got["status"] == "COMPLETE":
                break
            await asyncio.sleep(0.1)  # up to 30 s on a loaded machine
        assert got["status"] == "COMPLETE"
        assert any(bo.broker_order_id == row["broker_order_id"] for bo in received)
        assert await engine.pool.fetchval(
            "SELECT quantity FROM positions WHERE account_id = $1", aid) == 2
        # the order keeps the broker's time of its fill: Kite's fill_timestamp (IST wall time)
        [trade] = sim.kite().order_trades(row["broker_order_id"])
        filled = trade["fill_timestamp"]
        filled = datetime.fromisoformat(filled) if isinstance(filled, str) else filled
        assert got["filled_at"] == filled.replace(tzinfo=IST)
        assert order_to_proto(got).filled_at.ToDatetime(tzinfo=UTC) == got["filled_at"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def own_sim() -> Iterator[KitesimServer]:
    """A simulator of its own: the emergency stop squares off everything the *broker* holds,
    and the shared one holds positions of the other tests' accounts (one sim user)."""
    with logged_in_kitesim() as server:
        yield server


async def test_emergency_stop_at_kite_when_active_leaves_nothing_open(
        engine: Engine, own_sim: KitesimServer) -> None:
    from services.execution import emergency

    sim = own_sim
    aid = new_account_id()
    await engine.accounts.create(aid, "kite", credentials=Credentials(
        api_key=sim.api_key, access_token=sim.access_token or "", root=sim.url))
    kite = sim.kite()
    ltp = round(kite.quote(["NSE:INFY"])["NSE:INFY"]["last_price"] * 100)
    await engine.place(aid, OrderSpec(
        client_order_id="es-entry", exchange="NSE", tradingsymbol="INFY", side="BUY",
        quantity=3, order_type="LIMIT", product="MIS", price_paise=ltp + 200,
        stop_loss_paise=(ltp - 3000) // 5 * 5, target_paise=(ltp + 3000) // 5 * 5))
    await engine.place(aid, OrderSpec(
        client_order_id="es-resting", exchange="NSE", tradingsymbol="INFY", side="BUY",
        quantity=1, order_type="LIMIT", product="MIS", price_paise=(ltp - 2000) // 5 * 5))

    async def protected() -> Any:
        return await engine.pool.fetchval(
            "SELECT count(*) FROM gtts WHERE account_id = $1 AND status = 'active'", aid)

    await _until(engine, aid, protected)
    armed = [g["id"] for g in kite.get_gtts()
             if g["condition"]["tradingsymbol"] == "INFY" and g["status"] == "active"]
    assert armed  # L2: the GTT check below must have something to look at
    result = await emergency.emergency_stop(engine, aid, reason="e2e", actor="ops")
    assert result.orders_cancelled >= 1 and result.gtts_deleted >= 1
    assert result.positions_squared_off >= 1

    async def flat() -> Any:
        return await engine.pool.fetchval(
            "SELECT count(*) = 0 FROM positions WHERE account_id = $1 AND status = 'open'", aid)

    await _until(engine, aid, flat)
    ours = {o["order_id"] for o in kite.orders() if o["tag"]} & {
        r["broker_order_id"] for r in await engine.pool.fetch(
            "SELECT broker_order_id FROM orders WHERE account_id = $1", aid)}
    assert ours  # L2: every all() below looks at a non-empty list
    assert all(o["status"] in ("COMPLETE", "CANCELLED", "REJECTED")
               for o in kite.orders() if o["order_id"] in ours)
    left = {g["id"]: g["status"] for g in kite.get_gtts()}
    assert all(left.get(i, "deleted") != "active" for i in armed)  # deleted or triggered
    infy = [p for p in kite.positions()["net"]
            if p["tradingsymbol"] == "INFY" and p["product"] == "MIS"]
    assert infy and all(p["quantity"] == 0 for p in infy)
    trade = await engine.pool.fetchrow("SELECT * FROM trades WHERE account_id = $1", aid)
    assert trade["exit_reason"] == "emergency_stop" and trade["quantity"] == 3


async def test_a_kite_read_that_answers_5xx_is_asked_again_and_a_write_is_not(
        sim: KitesimServer) -> None:
    """retry_kite_read through the real client against kitesim's 503s: a read (holdings,
    margins, the order book) that meets one or two is asked again and answers; three in a row
    are the read's failure, retryable; a placement is never repeated on one (its outcome is
    unknown, reconciliation settles it by tag)."""
    broker = KiteBroker(KiteClient(sim.api_key, access_token=sim.access_token, root=sim.url))
    try:
        for read, fails in ((broker.holdings, 1), (broker.margins, 2), (broker.orders, 2)):
            sim.admin("faults", {"fail_next": fails})
            assert isinstance(await read(), list | dict), read
            assert sim.admin("faults", {})["fail_next"] == 0  # every failure was drawn
        sim.admin("faults", {"fail_next": 3})
        with pytest.raises(TemporaryError):
            await broker.holdings()
        assert sim.admin("faults", {})["fail_next"] == 0
        ltp = round(sim.kite().quote(["NSE:SBIN"])["NSE:SBIN"]["last_price"] * 100)
        below = ltp * 97 // 100 // 5 * 5  # rests if it were placed
        sim.admin("faults", {"fail_next": 2})
        with pytest.raises(TemporaryError):
            await broker.place_order(BrokerOrderRequest(
                tag=tag_for("nowrite"), exchange="NSE", tradingsymbol="SBIN", side="BUY",
                quantity=1, order_type="LIMIT", product="MIS", price_paise=below))
        assert sim.admin("faults", {})["fail_next"] == 1  # one call made, not repeated
        assert tag_for("nowrite") not in {o.tag for o in await broker.orders()}
    finally:
        sim.admin("faults", {"enabled": False})
        await broker.close()
