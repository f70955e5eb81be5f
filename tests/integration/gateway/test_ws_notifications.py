"""`/ws/notifications` with the real `websockets` client: the caller's stored notifications
as the snapshot, then the one the notifier stores when an order placed through REST fills
(execution → Redis stream → the gateway's notifier, which tells every user granted the account
→ every gateway process's sockets of those users); a user who does not hold the account
receives none of it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import websockets

from tests.integration.gateway.ws_kit import WsStack, close_code, next_message, until, ws_stack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack() -> AsyncIterator[WsStack]:
    async with ws_stack(MANDI_GATEWAY_WS_PING_S="0.5") as s:
        yield s


async def test_a_fill_arrives_as_a_notification_of_the_accounts_holders_only(
        stack: WsStack) -> None:
    async with websockets.connect(stack.ws_url("/ws/notifications", "trader_a")) as mine, \
            websockets.connect(stack.ws_url("/ws/notifications", "viewer_a")) as also, \
            websockets.connect(stack.ws_url("/ws/notifications", "trader_b")) as other:
        snap = await next_message(mine)
        assert snap["channel"] == "notifications" and snap["type"] == "snapshot"
        assert snap["data"]["user"] == "trader_a" and snap["data"]["items"] == []
        assert (await next_message(also))["data"]["user"] == "viewer_a"
        assert (await next_message(other))["data"]["user"] == "trader_b"
        placed = await stack.place("trader_a", stack.acc_a)

        def the_fill(m: dict) -> bool:
            return m["type"] == "notification" and \
                m["data"]["data"].get("order_id") == placed["order_id"]
        note = (await until(mine, the_fill, 20))[-1]
        assert note["data"]["kind"] == "order_filled" and note["seq"] > snap["seq"]
        copy = (await until(also, the_fill, 20))[-1]
        assert copy["data"]["id"] != note["data"]["id"]  # each holder's own, read apart
        r = await stack.http["trader_a"].get("/api/v1/notifications")
        assert note["data"]["id"] in [i["id"] for i in r.json()["items"]]
        r = await stack.http["trader_b"].get("/api/v1/notifications")
        assert placed["order_id"] not in json.dumps(r.json()["items"])
        seen = [json.loads(await other.recv()) for _ in range(3)]
        assert {m["type"] for m in seen} == {"ping"}
    # reconnecting: the snapshot now holds it, with its read state
    async with websockets.connect(stack.ws_url("/ws/notifications", "trader_a")) as again:
        snap = await next_message(again)
        assert [i["id"] for i in snap["data"]["items"]][:1] == [note["data"]["id"]]
        assert snap["data"]["unread"] >= 1


async def test_no_credential_is_refused(stack: WsStack) -> None:
    assert await close_code(stack.ws_url("/ws/notifications")) == 4401
