"""`/ws/account` with the real `websockets` client against the real gateway and execution
service (paper accounts, the test clock inside market hours): the account card as the
snapshot, the new card after an order placed through REST fills, the re-read on the interval
when only the price moved; resuming with `?since=` loses nothing; another user's account is
refused and never arrives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import websockets

from tests.integration.gateway.ws_kit import WsStack, close_code, next_message, until, ws_stack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
REFRESH_S = 0.3


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack() -> AsyncIterator[WsStack]:
    async with ws_stack(MANDI_GATEWAY_WS_PING_S="0.5", MANDI_GATEWAY_WS_LINGER_S="30",
                        MANDI_GATEWAY_WS_ACCOUNT_REFRESH_S=str(REFRESH_S)) as s:
        yield s


def _qty(card: dict[str, Any], symbol: str) -> int:
    return sum(p["quantity"] for p in card["positions"] if p["symbol"] == symbol)


async def test_account_snapshot_then_the_card_after_a_fill(stack: WsStack) -> None:
    url = stack.ws_url("/ws/account", "viewer_a", account_id=stack.acc_a)
    async with websockets.connect(url) as ws:
        snap = await next_message(ws)
        assert snap["channel"] == "account" and snap["type"] == "snapshot"
        card = snap["data"]
        assert card["account_id"] == stack.acc_a and card["broker"] == "paper"
        assert {"margins", "holdings", "positions", "pnl", "unavailable"} <= set(card)
        rest = (await stack.http["viewer_a"].get("/api/v1/account",
                                                 params={"account_id": stack.acc_a})).json()
        assert card["positions"] == rest["positions"] and card["pnl"] == rest["pnl"]
        before = _qty(card, "SBIN")
        await stack.place("trader_a", stack.acc_a, product="MIS", quantity=4)
        got = await until(ws, lambda m: m["type"] == "account" and
                          _qty(m["data"], "SBIN") == before + 4)
        assert got[-1]["seq"] > snap["seq"]
        assert got[-1]["data"]["margins"] == (await stack.http["viewer_a"].get(
            "/api/v1/account", params={"account_id": stack.acc_a})).json()["margins"]


async def test_a_price_move_alone_arrives_on_the_interval(stack: WsStack) -> None:
    await stack.place("trader_a", stack.acc_a, symbol="INFY", product="MIS", quantity=2)
    url = stack.ws_url("/ws/account", "trader_a", account_id=stack.acc_a)
    async with websockets.connect(url) as ws:
        card = (await next_message(ws))["data"]
        if _qty(card, "INFY") < 2:  # the fill had not reached the ledger yet
            card = (await until(ws, lambda m: _qty(m["data"], "INFY") >= 2))[-1]["data"]
        unrealized = card["pnl"]["unrealized_paise"]
        stack.env.price("NSE:INFY", 1600.00)  # +₹100 a share; no order, no event
        got = await until(ws, lambda m: m["type"] == "account" and
                          m["data"]["pnl"]["unrealized_paise"] > unrealized, 10)
        assert got[-1]["data"]["pnl"]["today_paise"] == \
            got[-1]["data"]["pnl"]["realized_paise"] + got[-1]["data"]["pnl"]["unrealized_paise"]
        # unchanged prices: no message but pings over several intervals
        quiet = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
        assert {m["type"] for m in quiet} == {"ping"}
    stack.env.price("NSE:INFY", 1500.00)


async def test_after_the_close_a_price_move_is_not_polled_for(stack: WsStack) -> None:
    rest = await stack.http["trader_a"].get("/api/v1/account",
                                            params={"account_id": stack.acc_a})
    want = _qty(rest.json(), "INFY") + 1
    await stack.place("trader_a", stack.acc_a, symbol="INFY", product="MIS", quantity=1)
    was = stack.env.clock.now()
    url = stack.ws_url("/ws/account", "trader_a", account_id=stack.acc_a)
    async with websockets.connect(url) as ws:
        card = (await next_message(ws))["data"]
        if _qty(card, "INFY") < want:  # the fill had not reached the ledger yet
            await until(ws, lambda m: _qty(m["data"], "INFY") == want)
        # the order's events may still be on their way (the order-events relay delivers each
        # committed event, and a card follows each): let them pass, two quiet pings in a row
        pings = 0
        async with asyncio.timeout(10):
            while pings < 2:
                pings = pings + 1 if json.loads(await ws.recv())["type"] == "ping" else 0
        stack.env.clock.set(was.replace(hour=16, minute=0))  # IST, after the session
        try:
            stack.env.price("NSE:INFY", 1700.00)
            quiet = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
            assert {m["type"] for m in quiet} == {"ping"}  # 1.5 s: five intervals
        finally:
            stack.env.clock.set(was)
        # open again: the move arrives on the next interval
        got = await until(ws, lambda m: m["type"] == "account", 10)
        assert got[-1]["data"]["account_id"] == stack.acc_a
    stack.env.price("NSE:INFY", 1500.00)


async def test_resume_with_since_and_another_users_account(stack: WsStack) -> None:
    url = stack.ws_url("/ws/account", "trader_a", account_id=stack.acc_a)
    async with websockets.connect(url) as ws:
        last = (await next_message(ws))["seq"]
    card = (await stack.http["trader_a"].get("/api/v1/account",
                                             params={"account_id": stack.acc_a})).json()
    before = _qty(card, "SBIN")
    await stack.place("trader_a", stack.acc_a, product="MIS", quantity=3)
    await asyncio.sleep(1.0)  # the fill reaches the topic while nobody is connected
    async with websockets.connect(f"{url}&since={last}") as ws:
        got = await until(ws, lambda m: m["type"] == "account" and
                          _qty(m["data"], "SBIN") == before + 3)
        assert "snapshot" not in [m["type"] for m in got]
        assert [m["seq"] for m in got] == list(range(last + 1, last + 1 + len(got)))
    assert await close_code(stack.ws_url("/ws/account", "trader_b",
                                         account_id=stack.acc_a)) == 4404
    assert await close_code(stack.ws_url("/ws/account", account_id=stack.acc_a)) == 4401
    async with websockets.connect(stack.ws_url("/ws/account", "trader_b")) as b:
        snap_b = await next_message(b)
        assert snap_b["data"]["account_id"] == stack.acc_b
        await stack.place("trader_a", stack.acc_a, product="MIS")
        seen = [json.loads(await asyncio.wait_for(b.recv(), 5)) for _ in range(3)]
        assert all(m["type"] == "ping" or m["data"]["account_id"] == stack.acc_b
                   for m in seen)
        assert stack.acc_a not in json.dumps(seen)
