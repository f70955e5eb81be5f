"""Order path against real PostgreSQL + Redis through the PaperBroker."""

from __future__ import annotations

import asyncio

import pytest

from mandi.core.errors import AlreadyExists, InvalidInput, NotFound, PreconditionFailed
from services.execution.sync import sync_account
from tests.integration.execution.kit import Env, spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def test_place_when_limit_marketable_fills_at_ask_and_opens_position(env: Env) -> None:
    env.price("NSE:SBIN", 812.00, spread=0.10)  # bid 811.90, ask 812.10
    row, dup = await env.engine.place(env.account_id, spec(price_paise=81235))
    assert not dup and row["status"] == "OPEN" and row["broker_order_id"]
    account, _ = await env.engine.account(env.account_id)
    await sync_account(env.engine, account)
    got = await env.pool.fetchrow("SELECT * FROM orders WHERE order_id = $1", row["order_id"])
    assert got["status"] == "COMPLETE" and got["average_price_paise"] == 81210
    pos = await env.pool.fetchrow("SELECT * FROM positions WHERE account_id = $1",
                                  env.account_id)
    assert pos["quantity"] == 10 and pos["average_price_paise"] == 81210
    events = await env.pool.fetch(
        "SELECT status FROM order_events WHERE order_id = $1 ORDER BY id", row["order_id"])
    assert [e["status"] for e in events] == ["PENDING", "OPEN", "COMPLETE"]


async def test_place_when_limit_below_ask_rests_until_ask_reaches_limit(env: Env) -> None:
    env.price("NSE:SBIN", 815.00, spread=0.05)  # ask 815.05 > limit 812.35
    row, _ = await env.engine.place(env.account_id, spec(price_paise=81235))
    account, _ = await env.engine.account(env.account_id)
    await sync_account(env.engine, account)
    assert (await env.pool.fetchval("SELECT status FROM orders WHERE order_id = $1",
                                    row["order_id"])) == "OPEN"
    env.price("NSE:SBIN", 812.30, spread=0.05)  # last 812.30 < limit, ask 812.35 == limit
    await sync_account(env.engine, account)
    got = await env.pool.fetchrow("SELECT * FROM orders WHERE order_id = $1", row["order_id"])
    assert got["status"] == "COMPLETE" and got["average_price_paise"] == 81235


async def test_place_when_same_client_order_id_twice_returns_one_order(env: Env) -> None:
    first, dup1 = await env.engine.place(env.account_id, spec("abc123"))
    second, dup2 = await env.engine.place(env.account_id, spec("abc123"))
    assert (dup1, dup2) == (False, True)
    assert first["order_id"] == second["order_id"]
    assert await env.count("paper_orders") == 1


async def test_place_when_same_client_order_id_concurrently_one_broker_order(env: Env) -> None:
    results = await asyncio.gather(*[env.engine.place(env.account_id, spec("race1"))
                                     for _ in range(8)])
    assert len({r[0]["order_id"] for r in results}) == 1
    assert sum(1 for _, dup in results if not dup) == 1
    assert await env.count("paper_orders") == 1
    assert await env.count("orders") == 1


async def test_modify_when_order_filled_fails_precondition_and_ledger_unchanged(env: Env) -> None:
    env.price("NSE:SBIN", 812.00)
    row, _ = await env.engine.place(env.account_id, spec())
    account, _ = await env.engine.account(env.account_id)
    await sync_account(env.engine, account)
    assert (await env.pool.fetchval("SELECT status FROM orders WHERE order_id = $1",
                                    row["order_id"])) == "COMPLETE"
    before = await env.count("order_events")
    with pytest.raises(PreconditionFailed):
        await env.engine.modify(env.account_id, row["order_id"], price_paise=81000)
    assert await env.count("order_events") == before


async def test_cancel_when_open_cancels_at_broker_and_records_event(env: Env) -> None:
    env.price("NSE:SBIN", 820.00)
    row, _ = await env.engine.place(env.account_id, spec(price_paise=81235))
    got = await env.engine.cancel(env.account_id, row["order_id"])
    assert got["status"] == "CANCELLED"
    assert await env.pool.fetchval(
        "SELECT status FROM paper_orders WHERE broker_order_id = $1",
        row["broker_order_id"]) == "CANCELLED"


async def test_modify_when_open_changes_price_at_broker(env: Env) -> None:
    env.price("NSE:SBIN", 820.00)
    row, _ = await env.engine.place(env.account_id, spec(price_paise=81235))
    got = await env.engine.modify(env.account_id, row["order_id"], price_paise=81500)
    assert got["price_paise"] == 81500
    assert await env.pool.fetchval(
        "SELECT price_paise FROM paper_orders WHERE broker_order_id = $1",
        row["broker_order_id"]) == 81500


@pytest.mark.parametrize("kw,field", [
    ({"quantity": 0}, "quantity"),
    ({"quantity": -5}, "quantity"),
    ({"price_paise": 81233}, "price"),
    ({"tradingsymbol": "NOSUCH"}, "symbol"),
    ({"exchange": "NFO", "tradingsymbol": "NIFTY26MARFUT", "quantity": 10,
      "product": "NRML", "price_paise": 2400000}, "quantity"),
    ({"order_type": "MARKET"}, "price"),
])
async def test_place_when_bad_input_invalid_argument_and_ledger_unchanged(
        env: Env, kw: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        await env.engine.place(env.account_id, spec(**kw))
    assert exc.value.field == field
    assert await env.count("orders") == 0
    assert await env.count("paper_orders") == 0


async def test_get_order_when_other_account_not_found(env: Env) -> None:
    other = await env.add_account()
    row, _ = await env.engine.place(env.account_id, spec())
    with pytest.raises(NotFound):
        await env.engine.cancel(other, row["order_id"])
    with pytest.raises(NotFound):
        await env.engine.modify(other, row["order_id"], price_paise=81000)


async def test_sync_when_trades_lag_the_order_books_the_fill_on_a_later_pass(env: Env) -> None:
    env.price("NSE:SBIN", 812.00)
    await env.engine.place(env.account_id, spec(price_paise=81300))
    account, broker = await env.engine.account(env.account_id)
    real = broker.order_trades

    async def lagging(broker_order_id: str) -> list:
        return []

    broker.order_trades = lagging  # the broker says COMPLETE before listing the trade
    await sync_account(env.engine, account)
    assert await env.count("fills") == 0
    broker.order_trades = real
    await sync_account(env.engine, account)  # same snapshot, but its fill is still missing
    assert await env.count("fills") == 1
    assert (await env.pool.fetchval("SELECT quantity FROM positions WHERE account_id = $1",
                                    env.account_id)) == 10


async def test_place_when_client_order_id_reused_for_another_order_conflict(env: Env) -> None:
    _first, _ = await env.engine.place(env.account_id, spec("k1", price_paise=80000))
    with pytest.raises(AlreadyExists):
        await env.engine.place(env.account_id, spec("k1", price_paise=80500))
    assert await env.count("orders") == 1
