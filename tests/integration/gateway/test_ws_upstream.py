"""The gateway's upstream stream going away: execution stops while a client watches
`/ws/orders`, an order is placed meanwhile (its event reaches no one), execution comes back;
the gateway re-opens its one StreamOrderEvents and sends the client a fresh `snapshot` holding
that order, then live events again — the client never has to notice the outage to be right.
The stream re-opens after the last event_id the gateway saw, so the events committed during the
outage arrive as `order` messages too, each once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import websockets

from services.gateway.ws import metrics
from tests.integration.execution.kit import spec
from tests.integration.gateway.ws_kit import WsStack, next_message, until, ws_stack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack() -> AsyncIterator[WsStack]:
    async with ws_stack() as s:
        yield s


async def test_after_an_upstream_outage_the_client_gets_a_fresh_snapshot(stack: WsStack
                                                                         ) -> None:
    assert stack.execution is not None
    restarts = metrics.UPSTREAM_RESTARTS.labels("order_events")
    before = restarts._value.get()
    url = stack.ws_url("/ws/orders", "trader_a", account_id=stack.acc_a)
    async with websockets.connect(url) as ws:
        snap = await next_message(ws)
        await stack.execution.stop()
        row, _dup = await stack.env.engine.place(stack.acc_a, spec(
            order_type="LIMIT", price_paise=80500, quantity=3))  # rests: stays OPEN
        outage = [dict(r) for r in await stack.env.pool.fetch(
            "SELECT id, status FROM order_events WHERE order_id = $1 ORDER BY id",
            row["order_id"])]
        assert [e["status"] for e in outage] == ["PENDING", "OPEN"]
        await stack.execution.start()
        got = await until(ws, lambda m: m["type"] == "snapshot", 30)
        fresh = got[-1]
        assert fresh["seq"] > snap["seq"]
        assert row["order_id"] in {o["order_id"] for o in fresh["data"]["orders"]}
        placed = await stack.place("trader_a", stack.acc_a)
        got += await until(ws, lambda m: m["type"] == "order" and
                           m["data"]["order_id"] == placed["order_id"], 20)
    assert restarts._value.get() > before
    # resumed from the cursor: the outage's events arrived, in order, each once
    replayed = [m["data"]["event_id"] for m in got if m["type"] == "order" and
                m["data"]["order_id"] == row["order_id"]]
    assert replayed == [e["id"] for e in outage]
