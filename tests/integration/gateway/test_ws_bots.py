"""`/ws/state`, `/ws/logs` and `/ws/market/{symbol}` with the real `websockets` client, the
real gateway, the strategy service and marketdata: the bot's state and log as the snapshot,
then what starting it through REST changes; another user's bot is refused (4404) as REST
refuses it; an instrument's last price, then its ticks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import websockets

from mandi.testing.ticks import make_batch
from services.marketdata.candles import Bar
from services.marketdata.ticks import MODE_QUOTE
from tests.integration.gateway.ws_kit import WsStack, close_code, next_message, until, ws_stack
from tests.integration.strategy.signal_stack import TOKENS

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack() -> AsyncIterator[WsStack]:
    async with ws_stack(bots=True, MANDI_GATEWAY_WS_PING_S="1") as s:
        yield s


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(stack: WsStack) -> dict[str, Any]:
    r = await stack.http["trader_a"].post("/api/v1/bots", json={
        "strategy": {"type": "external"}, "symbols": ["NSE:SBIN"], "capital": 100000,
        "name": "default", "account_id": stack.acc_a, "mode": "paper", "product": "MIS"})
    assert r.status_code == 201, r.text
    return r.json()


async def test_state_snapshot_then_the_change_a_start_makes(stack: WsStack,
                                                            bot: dict[str, Any]) -> None:
    async with websockets.connect(stack.ws_url("/ws/state", "trader_a",
                                               bot_id=bot["id"])) as ws:
        snap = await next_message(ws)
        assert snap["channel"] == "state" and snap["type"] == "snapshot"
        assert snap["data"]["bot"]["id"] == bot["id"]
        before = snap["data"]["status"]
        r = await stack.http["trader_a"].post(f"/api/v1/bots/{bot['id']}/start")
        assert r.status_code == 200, r.text
        got = await until(ws, lambda m: m["type"] == "state" and
                          m["data"]["status"] == "running", 20)
        assert before != "running" and got[-1]["seq"] > snap["seq"]
    # without bot_id: the caller's default bot, as GET /api/v1/state
    async with websockets.connect(stack.ws_url("/ws/state", "trader_a")) as ws:
        assert (await next_message(ws))["data"]["bot"]["id"] == bot["id"]


async def test_logs_snapshot_then_new_records(stack: WsStack, bot: dict[str, Any]) -> None:
    async with websockets.connect(stack.ws_url("/ws/logs", "trader_a",
                                               bot_id=bot["id"])) as ws:
        snap = await next_message(ws)
        assert snap["channel"] == "logs" and snap["type"] == "snapshot"
        ids = [r["id"] for r in snap["data"]["logs"]]
        assert ids and ids == sorted(ids)
        r = await stack.http["trader_a"].post(f"/api/v1/bots/{bot['id']}/stop")
        assert r.status_code == 200, r.text
        got = await until(ws, lambda m: m["type"] == "log" and m["data"]["event"] == "status"
                          and m["data"]["fields"].get("status") == "stopped", 20)
        assert got[-1]["data"]["id"] > max(ids) and got[-1]["data"]["bot_id"] == bot["id"]


async def test_another_users_bot_is_404(stack: WsStack, bot: dict[str, Any]) -> None:
    for path in ("/ws/state", "/ws/logs"):
        assert await close_code(stack.ws_url(path, "trader_b", bot_id=bot["id"])) == 4404
        # resuming with a seq of the owner's topic changes nothing
        assert await close_code(stack.ws_url(path, "trader_b", bot_id=bot["id"],
                                             since="1")) == 4404
    # trader_b has no bot at all: no default bot either
    assert await close_code(stack.ws_url("/ws/state", "trader_b")) == 4404


async def test_market_snapshot_then_ticks_from_marketdata(stack: WsStack) -> None:
    """`/ws/market/{symbol}` rides on the same stack: marketdata's ingester side (md.bus)
    publishes ticks as a live KiteTicker feed would."""
    assert stack.md is not None
    url = stack.ws_url("/ws/market/NSE:SBIN", "viewer_a")
    async with websockets.connect(url) as ws, websockets.connect(url) as second:
        snap = await next_message(ws)
        assert snap["channel"] == "market" and snap["type"] == "snapshot"
        assert snap["data"]["symbol"] == "NSE:SBIN" and snap["data"]["instrument_token"] == \
            TOKENS["SBIN"]
        await next_message(second)
        batches = [make_batch([TOKENS["SBIN"]], MODE_QUOTE, seed=i) for i in range(3)]
        for b in batches:
            await stack.md.bus.publish(b)
        for sock in (ws, second):
            got = await until(sock, lambda m: m["type"] == "tick" and m["data"][
                "last_price"] == batches[-1].price[0] / 100, 10)
            ticks = [m for m in got if m["type"] == "tick"]
            assert [t["data"]["last_price"] for t in ticks] == \
                [b.price[0] / 100 for b in batches]
    # one StreamTicks for both sockets (hub.Source per symbol)
    assert [k for k in stack.app.state.ws_hub.sources if k[0] == "ticks"] == \
        [("ticks", "NSE:SBIN")]
    async with websockets.connect(url) as ws:
        snap = await next_message(ws)
        assert snap["data"]["last_price"] == batches[-1].price[0] / 100
    assert await close_code(stack.ws_url("/ws/market/NOCOLON", "viewer_a")) == 4400
    assert await close_code(stack.ws_url("/ws/market/NSE:SBIN")) == 4401


RUN = {"strategy": {"type": "ema_crossover", "params": {"fast": 10, "slow": 30}},
       "symbols": ["NSE:INFY"], "interval": "minute", "from": "2025-01-01", "to": "2025-02-28",
       "capital": 1000000, "sizing": {"type": "fixed_qty", "qty": 100},
       "costs": {"product": "MIS"}, "fill": "next_open"}


async def test_backtest_progress_until_its_summary(stack: WsStack) -> None:
    r = await stack.http["trader_a"].post("/api/v1/backtest/run", json=RUN)
    assert r.status_code == 202, r.text
    bid = r.json()["id"]
    async with websockets.connect(stack.ws_url(f"/ws/backtest/{bid}", "trader_a")) as ws:
        snap = await next_message(ws)
        assert snap["channel"] == "backtest" and snap["type"] == "snapshot"
        assert snap["data"]["id"] == bid
        got = await until(ws, lambda m: m["data"]["status"] in ("done", "failed"), 60)
    assert got[-1]["data"]["status"] == "done" and got[-1]["data"]["summary"]["trades"] > 0
    seen = [snap["data"]["progress"]] + [m["data"]["progress"] for m in got]
    assert seen == sorted(seen) and len(set(seen)) >= 2, seen
    assert await close_code(stack.ws_url(f"/ws/backtest/{bid}", "trader_b")) == 4404


async def test_market_candles_with_an_interval(stack: WsStack) -> None:
    """`?interval=minute`: the instrument is subscribed with minute candles in marketdata, and
    each closed candle marketdata logs (md.bus plays the ingester) arrives as `candle`."""
    assert stack.md is not None
    token = TOKENS["INFY"]
    url = stack.ws_url("/ws/market/NSE:INFY", "viewer_a", interval="1min")
    async with websockets.connect(url) as ws:
        snap = await next_message(ws)
        assert snap["type"] == "snapshot" and snap["data"]["interval"] == "minute"
        registry = await stack.md.bus.registry()
        assert "minute" in registry[token].intervals
        t0 = 1_767_000_000 // 60 * 60
        for i in range(3):
            p = 150_000 + i
            await stack.md.bus.append_candle(Bar(token, "minute", t0 + 60 * i, p, p + 50, p - 50,
                                                 p + 10, 1000 + i, 0, "ticks"))
        got = await until(ws, lambda m: m["type"] == "candle" and m["data"]["volume"] == 1002)
        candles = [m["data"] for m in got if m["type"] == "candle"]
        assert [c["volume"] for c in candles] == [1000, 1001, 1002]
        assert candles[0]["close"] == 1500.10 and all(c["closed"] for c in candles)
    assert await close_code(stack.ws_url("/ws/market/NSE:INFY", "viewer_a",
                                         interval="day")) == 4400
