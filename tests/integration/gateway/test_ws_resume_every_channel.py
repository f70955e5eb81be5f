"""Issue #14's acceptance for the channels whose resume was not tested yet — /ws/positions,
/ws/notifications, /ws/state, /ws/logs, /ws/market/{symbol} (ticks and ?interval= candles),
/ws/backtest/{id}, /ws/jobs/{id} — with the real `websockets` client and real services (no
mocks): the snapshot, then an update a real action causes; disconnect; another real change
while nobody is connected (it reaches the lingering topic); reconnect with `?since=<seq>`: the
missed messages arrive, in seq order from since+1, without a new snapshot. Where the channel
carries an account's or a user's data, another user never receives it (4404, or nothing).
(/ws/orders and /ws/account: test_ws_orders.py, test_ws_account.py.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
import websockets

from mandi.testing.ticks import make_batch
from services.marketdata.candles import Bar
from services.marketdata.ticks import MODE_QUOTE
from tests.integration.gateway.ws_kit import (
    RUN,
    WsStack,
    close_code,
    next_message,
    paced_strategy,
    slow_fetch_job,
    until,
    ws_stack,
)
from tests.integration.strategy.signal_stack import TOKENS

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
Msg = dict[str, Any]
FINAL = ("done", "failed", "cancelled")


@pytest.fixture(scope="module", autouse=True)
def paced() -> Iterator[None]:
    with paced_strategy():
        yield


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ws() -> AsyncIterator[WsStack]:
    async with ws_stack(bots=True, MANDI_GATEWAY_WS_PING_S="0.5",
                        MANDI_GATEWAY_WS_LINGER_S="60") as s:
        yield s


async def published_after(app: Any, channel: str, last: int, timeout_s: float = 20) -> None:
    """Until the topic that issued `last` (still lingering, no socket on it) has published
    more: the change happened while the client was away."""
    async with asyncio.timeout(timeout_s):
        while True:
            for held in list(app.state.ws_hub.held.values()):
                t = held.topic
                if t.channel == channel and t.seq > last and \
                        any(seq == last for seq, _ in t.buffer):
                    assert held.refs == 0  # nobody connected: it is a replay, not live
                    return
            await asyncio.sleep(0.05)


async def resume_case(app: Any, url: str, cause: Callable[[], Awaitable[Any]],
                      seen: Callable[[Msg], bool], cause_away: Callable[[], Awaitable[Any]],
                      seen_away: Callable[[Msg], bool]) -> tuple[Msg, list[Msg]]:
    """Snapshot, `cause` until `seen`; disconnect; `cause_away`; resume with ?since= until
    `seen_away`. The snapshot and the resumed messages."""
    async with websockets.connect(url) as sock:
        snap = await next_message(sock)
        assert snap["type"] == "snapshot"
        await cause()
        got = await until(sock, seen, 20)
        assert got[-1]["seq"] > snap["seq"]
        last = got[-1]["seq"]
    channel = snap["channel"]
    await cause_away()
    await published_after(app, channel, last)
    sep = "&" if "?" in url else "?"
    async with websockets.connect(f"{url}{sep}since={last}") as sock:
        resumed = await until(sock, seen_away, 20)
    assert "snapshot" not in [m["type"] for m in resumed], resumed
    assert [m["seq"] for m in resumed] == list(range(last + 1, last + 1 + len(resumed)))
    assert {m["channel"] for m in resumed} == {channel}
    return snap, resumed


def _qty(data: Msg, symbol: str) -> int:
    return sum(p["quantity"] for p in data["positions"] if p["symbol"] == symbol)


async def _rest_qty(ws: WsStack, symbol: str) -> int:
    r = await ws.http["trader_a"].get("/api/v1/positions", params={"account_id": ws.acc_a})
    assert r.status_code == 200, r.text
    return _qty(r.json(), symbol)


async def test_positions_resume_and_isolation(ws: WsStack) -> None:
    url = ws.ws_url("/ws/positions", "trader_a", account_id=ws.acc_a)
    base = await _rest_qty(ws, "SBIN")
    async with websockets.connect(ws.ws_url("/ws/positions", "trader_b")) as other:
        assert (await next_message(other))["data"]["account_id"] == ws.acc_b
        _, resumed = await resume_case(
            ws.app, url,
            lambda: ws.place("trader_a", ws.acc_a, symbol="SBIN", product="MIS", quantity=2),
            lambda m: m["type"] == "positions" and _qty(m["data"], "SBIN") == base + 2,
            lambda: ws.place("trader_a", ws.acc_a, symbol="SBIN", product="MIS", quantity=3),
            lambda m: m["type"] == "positions" and _qty(m["data"], "SBIN") == base + 5)
        assert resumed[-1]["data"]["account_id"] == ws.acc_a
        assert _qty(resumed[-1]["data"], "SBIN") == await _rest_qty(ws, "SBIN")
        # trader_b's socket on its own account saw none of account A's fills
        seen = [json.loads(await asyncio.wait_for(other.recv(), 5)) for _ in range(2)]
        assert all(m["type"] == "ping" for m in seen) and ws.acc_a not in json.dumps(seen)
    for since in ({}, {"since": str(resumed[-1]["seq"] - 1)}):
        assert await close_code(ws.ws_url("/ws/positions", "trader_b", account_id=ws.acc_a,
                                          **since)) == 4404


async def test_notifications_resume_and_isolation(ws: WsStack) -> None:
    placed: list[str] = []

    async def place() -> None:
        placed.append((await ws.place("trader_a", ws.acc_a))["order_id"])

    def filled(n: int) -> Callable[[Msg], bool]:
        return lambda m: m["type"] == "notification" and \
            m["data"]["data"].get("order_id") == placed[n]

    url = ws.ws_url("/ws/notifications", "trader_a")
    async with websockets.connect(ws.ws_url("/ws/notifications", "trader_b")) as other:
        assert (await next_message(other))["data"]["user"] == "trader_b"
        snap, resumed = await resume_case(ws.app, url, place, filled(0), place, filled(1))
        assert snap["data"]["user"] == "trader_a"
        assert resumed[-1]["data"]["kind"] == "order_filled"
        seen = [json.loads(await asyncio.wait_for(other.recv(), 5)) for _ in range(2)]
        assert all(m["type"] == "ping" for m in seen)
        assert not any(p in json.dumps(seen) for p in placed)
    # the user is the caller: a `since` of trader_a's topic gives trader_b its own snapshot
    async with websockets.connect(ws.ws_url("/ws/notifications", "trader_b",
                                            since=resumed[0]["seq"])) as other:
        snap_b = await next_message(other)
        assert snap_b["type"] == "snapshot" and snap_b["data"]["user"] == "trader_b"
        assert not any(p in json.dumps(snap_b) for p in placed)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(ws: WsStack) -> dict[str, Any]:
    r = await ws.http["trader_a"].post("/api/v1/bots", json={
        "strategy": {"type": "external"}, "symbols": ["NSE:SBIN"], "capital": 100000,
        "name": "resume", "account_id": ws.acc_a, "mode": "paper", "product": "MIS"})
    assert r.status_code == 201, r.text
    return r.json()


def _bot_call(ws: WsStack, bot: Msg, action: str) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        r = await ws.http["trader_a"].post(f"/api/v1/bots/{bot['id']}/{action}")
        assert r.status_code == 200, r.text
    return call


def _status_log(status: str) -> Callable[[Msg], bool]:
    return lambda m: m["type"] == "log" and m["data"]["event"] == "status" and \
        m["data"]["fields"].get("status") == status


async def test_state_and_logs_resume_and_isolation(ws: WsStack, bot: Msg) -> None:
    # state: a start (running), then a stop while away (stopped)
    url = ws.ws_url("/ws/state", "trader_a", bot_id=bot["id"])
    _, resumed = await resume_case(
        ws.app, url, _bot_call(ws, bot, "start"),
        lambda m: m["type"] == "state" and m["data"]["status"] == "running",
        _bot_call(ws, bot, "stop"),
        lambda m: m["type"] == "state" and m["data"]["status"] == "stopped")
    assert resumed[-1]["data"]["bot"]["id"] == bot["id"]
    # logs: the same two actions again, each a status record
    url = ws.ws_url("/ws/logs", "trader_a", bot_id=bot["id"])
    _, resumed = await resume_case(ws.app, url, _bot_call(ws, bot, "start"),
                                   _status_log("running"), _bot_call(ws, bot, "stop"),
                                   _status_log("stopped"))
    ids = [m["data"]["id"] for m in resumed if m["type"] == "log"]
    assert ids == sorted(set(ids)) and {m["data"]["bot_id"] for m in resumed} == {bot["id"]}
    last = resumed[-1]["seq"]
    for path in ("/ws/state", "/ws/logs"):  # the owner's seq does not open the topic to b
        assert await close_code(ws.ws_url(path, "trader_b", bot_id=bot["id"],
                                          since=str(last - 1))) == 4404


async def test_market_ticks_resume(ws: WsStack) -> None:
    """Market data is not account data: any signed-in user may watch any instrument."""
    assert ws.md is not None
    batches = [make_batch([TOKENS["INFY"]], MODE_QUOTE, seed=40 + i) for i in range(4)]
    prices = [b.price[0] / 100 for b in batches]
    assert len(set(prices)) == 4

    async def publish(*which: int) -> None:
        for i in which:
            await ws.md.bus.publish(batches[i])  # type: ignore[union-attr]

    _, resumed = await resume_case(
        ws.app, ws.ws_url("/ws/market/NSE:INFY", "viewer_a"), lambda: publish(0),
        lambda m: m["type"] == "tick" and m["data"]["last_price"] == prices[0],
        lambda: publish(1, 2, 3),
        lambda m: m["type"] == "tick" and m["data"]["last_price"] == prices[3])
    assert [m["data"]["last_price"] for m in resumed if m["type"] == "tick"] == prices[1:]


async def test_market_candles_resume(ws: WsStack) -> None:
    assert ws.md is not None
    token = TOKENS["SBIN"]
    t0 = 1_767_100_000 // 60 * 60

    async def candle(*which: int) -> None:
        for i in which:
            p = 60_000 + i
            await ws.md.bus.append_candle(Bar(  # type: ignore[union-attr]
                token, "minute", t0 + 60 * i, p, p + 50, p - 50, p + 10, 2000 + i, 0, "ticks"))

    _, resumed = await resume_case(
        ws.app, ws.ws_url("/ws/market/NSE:SBIN", "viewer_a", interval="minute"),
        lambda: candle(0), lambda m: m["type"] == "candle" and m["data"]["volume"] == 2000,
        lambda: candle(1, 2), lambda m: m["type"] == "candle" and m["data"]["volume"] == 2002)
    assert [m["data"]["volume"] for m in resumed if m["type"] == "candle"] == [2001, 2002]



async def test_backtest_resume_and_isolation(ws: WsStack) -> None:
    """The run itself is the real change: its polled progress while nobody watches."""
    r = await ws.http["trader_a"].post("/api/v1/backtest/run", json=RUN)
    assert r.status_code == 202, r.text
    bid = r.json()["id"]

    async def nothing() -> None:
        return None

    _, resumed = await resume_case(
        ws.app, ws.ws_url(f"/ws/backtest/{bid}", "trader_a"), nothing,
        lambda m: m["type"] == "progress", nothing,
        lambda m: m["data"]["status"] in FINAL)
    assert resumed[-1]["data"]["status"] == "done" and resumed[-1]["data"]["id"] == bid
    assert await close_code(ws.ws_url(f"/ws/backtest/{bid}", "trader_b",
                                      since=str(resumed[0]["seq"]))) == 4404


async def test_jobs_resume(stack: Any) -> None:
    """A history fetch job (the gateway's own conftest stack: history service + kitesim, its
    answers slowed). Jobs are admin data (`/api/data/*`); the channel's access is the route's."""
    async with slow_fetch_job(stack) as (token, job_id, base):

        async def nothing() -> None:
            return None

        _, resumed = await resume_case(
            stack.app, f"{base}/ws/jobs/{job_id}?token={token}", nothing,
            lambda m: m["type"] == "progress", nothing,
            lambda m: m["data"]["state"] in FINAL)
    assert resumed[-1]["data"]["state"] == "done" and resumed[-1]["data"]["job_id"] == job_id
    assert await close_code(f"{base}/ws/jobs/{job_id}") == 4401
