"""`/ws/orders` and `/ws/positions` with the real `websockets` client against the real gateway
and execution service: snapshot first, then the events of an order placed through REST on a
paper account; resuming with `?since=` loses nothing; another user's account never arrives;
no credential is refused; a slow client is dropped while the others keep receiving."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets

from mandi.testing.gateway_auth import TEST_ADMIN_PASSWORD
from services.gateway.ws import metrics
from tests.integration.execution.kit import spec
from tests.integration.gateway.ws_kit import WsStack, close_code, next_message, until, ws_stack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
QUEUE = 64


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack() -> AsyncIterator[WsStack]:
    async with ws_stack(MANDI_GATEWAY_WS_QUEUE=str(QUEUE), MANDI_GATEWAY_WS_PING_S="0.5",
                        MANDI_GATEWAY_WS_LINGER_S="30", MANDI_GATEWAY_WS_RECHECK_S="0.5") as s:
        yield s


def _of(order_id: str, status: str) -> Any:
    return lambda m: m["type"] == "order" and m["data"]["order_id"] == order_id and \
        m["data"]["status"] == status


async def test_orders_snapshot_then_the_events_of_an_order_placed_through_rest(
        stack: WsStack) -> None:
    resting = await stack.place("trader_a", stack.acc_a, order_type="LIMIT", price=800)
    async with websockets.connect(stack.ws_url("/ws/orders", "trader_a",
                                               account_id=stack.acc_a)) as ws:
        snap = await next_message(ws)
        assert snap["channel"] == "orders" and snap["type"] == "snapshot"
        assert snap["data"]["account_id"] == stack.acc_a
        listed = {o["order_id"]: o["status"] for o in snap["data"]["orders"]}
        assert listed[resting["order_id"]] == "OPEN"
        placed = await stack.place("trader_a", stack.acc_a, quantity=2)
        got = await until(ws, _of(placed["order_id"], "COMPLETE"))
        assert [m["seq"] for m in got] == list(range(snap["seq"] + 1, snap["seq"] + 1 +
                                                     len(got)))
        done = got[-1]["data"]
        assert done["filled_quantity"] == 2 and done["average_price_paise"] > 0
        assert done["account_id"] == stack.acc_a


async def test_the_only_account_is_the_default_and_an_api_key_works_as_token(
        stack: WsStack) -> None:
    r = await stack.http["trader_a"].post("/api/v1/auth/api-keys", json={"name": "ws"})
    assert r.status_code in (200, 201), r.text
    key = r.json()["api_key"]
    url = stack.url.replace("http://", "ws://") + f"/ws/orders?token={key}"
    async with websockets.connect(url) as ws:
        snap = await next_message(ws)
        assert snap["type"] == "snapshot" and snap["data"]["account_id"] == stack.acc_a


async def test_positions_snapshot_then_the_new_position_after_a_fill(stack: WsStack) -> None:
    async with websockets.connect(stack.ws_url("/ws/positions", "viewer_a",
                                               account_id=stack.acc_a)) as ws:
        snap = await next_message(ws)
        assert snap["channel"] == "positions" and snap["type"] == "snapshot"
        before = sum(p["quantity"] for p in snap["data"]["positions"] if p["symbol"] == "INFY")
        await stack.place("trader_a", stack.acc_a, symbol="INFY", quantity=3)
        got = await until(ws, lambda m: m["type"] == "positions" and sum(
            p["quantity"] for p in m["data"]["positions"] if p["symbol"] == "INFY") ==
            before + 3)
        assert got[-1]["seq"] > snap["seq"]


async def test_resume_with_since_replays_what_was_missed_without_a_snapshot(
        stack: WsStack) -> None:
    url = stack.ws_url("/ws/orders", "trader_a", account_id=stack.acc_a)
    async with websockets.connect(url) as ws:
        last = (await next_message(ws))["seq"]
    missed = [(await stack.place("trader_a", stack.acc_a))["order_id"] for _ in range(3)]
    await asyncio.sleep(0.3)  # while disconnected, the events reach the gateway's topic
    async with websockets.connect(f"{url}&since={last}") as ws:
        completed: set[str] = set()

        def all_done(m: dict[str, Any]) -> bool:
            if m["type"] == "order" and m["data"]["status"] == "COMPLETE":
                completed.add(m["data"]["order_id"])
            return completed >= set(missed)
        got = await until(ws, all_done)
        assert "snapshot" not in [m["type"] for m in got]
        assert [m["seq"] for m in got] == list(range(last + 1, last + 1 + len(got)))
    # a seq the gateway no longer holds (or never issued): a fresh snapshot
    for since in (1, last + 10**9):
        async with websockets.connect(f"{url}&since={since}") as ws:
            snap = await next_message(ws)
            assert snap["type"] == "snapshot"
            assert {o["order_id"] for o in snap["data"]["orders"]} >= set(missed)
    assert await close_code(f"{url}&since=abc") == 4400


async def test_another_users_account_never_arrives(stack: WsStack) -> None:
    assert await close_code(stack.ws_url("/ws/orders", "trader_b",
                                         account_id=stack.acc_a)) == 4404
    assert await close_code(stack.ws_url("/ws/positions", "trader_b",
                                         account_id=stack.acc_a)) == 4404
    async with websockets.connect(stack.ws_url("/ws/orders", "trader_b")) as b, \
            websockets.connect(stack.ws_url("/ws/orders", "trader_a",
                                            account_id=stack.acc_a)) as a:
        snap_b = await next_message(b)
        assert snap_b["data"]["account_id"] == stack.acc_b
        assert all(o["account_id"] == stack.acc_b for o in snap_b["data"]["orders"])
        await next_message(a)
        placed = await stack.place("trader_a", stack.acc_a)
        await until(a, _of(placed["order_id"], "COMPLETE"))
        # B's socket meanwhile: pings only (sent every 0.5 s), never A's order
        seen: list[dict[str, Any]] = []
        for _ in range(3):
            seen.append(json.loads(await asyncio.wait_for(b.recv(), 5)))
        assert {m["type"] for m in seen} == {"ping"}
        assert placed["order_id"] not in json.dumps(seen)


async def test_no_or_a_bad_credential_is_refused(stack: WsStack) -> None:
    assert await close_code(stack.ws_url("/ws/orders", account_id=stack.acc_a)) == 4401
    assert await close_code(stack.ws_url("/ws/orders", token="not.a.jwt")) == 4401
    assert await close_code(stack.ws_url("/ws/orders", token="mk_nope")) == 4401
    # a cookie session from another site's page is refused, as REST refuses a missing CSRF
    async with httpx.AsyncClient(base_url=stack.url) as web:
        r = await web.post("/api/v1/auth/session", json={"username": "trader_a",
                                                         "password": "a-long-enough-password"})
        assert r.status_code == 200
        cookie = f"mandi_session={web.cookies['mandi_session']}"
    url = stack.ws_url("/ws/orders")
    assert await close_code(url, additional_headers={"Cookie": cookie},
                            origin="http://evil.example") == 4403
    async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
        assert (await next_message(ws))["type"] == "snapshot"


async def _slow_socket(url: str) -> Any:
    """A client that reads nothing: a tiny fixed receive buffer, websockets' own queue of 1."""
    host, port = url.removeprefix("ws://").split("/", 1)[0].split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    return await websockets.connect(url, sock=sock, max_queue=1, max_size=None,
                                    compression=None)


async def test_a_slow_client_is_dropped_while_the_others_keep_receiving(
        stack: WsStack) -> None:
    url = stack.ws_url("/ws/orders", "trader_a", account_id=stack.acc_a)
    drops = metrics.DROPS.labels("orders")
    dropped_before = drops._value.get()
    slow = await _slow_socket(url)
    async with websockets.connect(url, max_size=None, max_queue=None,
                                  compression=None) as fast:
        await next_message(fast)
        n, big = 400, "x" * 32_000
        reading = asyncio.create_task(
            until(fast, lambda m: m["data"].get("message", "").startswith(f"{n - 1}:"), 60))
        row, _dup = await stack.env.engine.place(stack.acc_a, spec(
            order_type="LIMIT", price_paise=80500, quantity=1, allow_duplicate=True))
        # n committed events (the outbox rows StreamOrderEvents relays), then the doorbell
        await stack.env.pool.execute(
            "INSERT INTO order_events (order_id, account_id, status, message, ts)"
            " SELECT $1, $2, 'OPEN', i || ':' || $3, now() FROM generate_series(0, $4 - 1) i"
            " ORDER BY i", row["order_id"], stack.acc_a, big, n)
        await stack.env.engine.events.publish(stack.acc_a, row["order_id"], "OPEN")
        got = await reading
        assert [m["data"]["message"].split(":")[0] for m in got if m["type"] == "order"
                and m["data"]["message"].endswith(big)] == [str(i) for i in range(n)]
    assert drops._value.get() == dropped_before + 1
    received = 0
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:  # the slow client now reads: what was in flight, then the close
            msg = json.loads(await asyncio.wait_for(slow.recv(), 10))
            received += msg["type"] == "order"
    assert received < n
    assert closed.value.rcvd is None or closed.value.rcvd.code == 1013


async def test_an_account_that_does_not_exist_is_404_for_an_admin_too(stack: WsStack) -> None:
    r = await stack.http["trader_a"].post("/api/v1/auth/login", json={
        "username": "admin", "password": TEST_ADMIN_PASSWORD})
    admin = r.json()["access_token"]
    url = stack.ws_url("/ws/orders", token=admin, account_id="NOSUCHACC")
    assert await close_code(url) == 4404
    assert ("orders", "NOSUCHACC") not in stack.app.state.ws_hub.held  # not kept around
    assert await close_code(url) == 4404  # asked again, answered again
    # the admin names a real account: admitted
    async with websockets.connect(stack.ws_url("/ws/orders", token=admin,
                                               account_id=stack.acc_b)) as ws:
        assert (await next_message(ws))["data"]["account_id"] == stack.acc_b


async def test_an_open_socket_closes_when_its_grant_or_sign_in_is_withdrawn(
        stack: WsStack) -> None:
    """The stack rechecks every 0.5 s: a withdrawn grant closes with 4404, a logout with
    4401 — what REST would answer the same caller now."""
    admin = stack.http["admin"]
    r = await admin.post("/api/v1/users", json={"username": "trader_c",
                                                "password": "a-long-enough-password",
                                                "role": "trader"})
    assert r.status_code == 201, r.text
    r = await admin.post(f"/api/v1/accounts/{stack.acc_a}/grants", json={"username": "trader_c"})
    assert r.status_code == 201, r.text

    async def login() -> str:
        r = await admin.post("/api/v1/auth/login", json={
            "username": "trader_c", "password": "a-long-enough-password"})
        return r.json()["access_token"]

    async def closed_with(ws: Any) -> int | None:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        return closed.value.rcvd.code if closed.value.rcvd else None

    url = stack.ws_url("/ws/orders", token=await login(), account_id=stack.acc_a)
    async with websockets.connect(url) as ws:
        assert (await next_message(ws))["type"] == "snapshot"
        r = await admin.delete(f"/api/v1/accounts/{stack.acc_a}/grants/trader_c")
        assert r.status_code in (200, 204), r.text
        assert await closed_with(ws) == 4404
    r = await admin.post(f"/api/v1/accounts/{stack.acc_a}/grants", json={"username": "trader_c"})
    token = await login()
    async with websockets.connect(stack.ws_url("/ws/orders", token=token,
                                               account_id=stack.acc_a)) as ws:
        assert (await next_message(ws))["type"] == "snapshot"
        r = await admin.post("/api/v1/auth/logout",
                             headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert await closed_with(ws) == 4401


async def test_upstream_streams_outlive_the_unary_deadline() -> None:
    """The gateway's upstream streams carry a stream's deadline, not the unary default
    (`rpc_timeout_s`): with that default at 1 s, a socket open for 3.5 s sees its upstream
    never restarted (it used to be cut and re-read every deadline, a snapshot each time)."""
    async with ws_stack(MANDI_RPC_TIMEOUT_S="1", MANDI_GATEWAY_WS_PING_S="0.5") as s:
        before = metrics.UPSTREAM_RESTARTS.labels("order_events")._value.get()
        async with websockets.connect(s.ws_url("/ws/orders", "trader_a",
                                               account_id=s.acc_a)) as ws:
            assert (await next_message(ws))["type"] == "snapshot"
            await asyncio.sleep(3.5)
            placed = await s.place("trader_a", s.acc_a)
            got = await until(ws, _of(placed["order_id"], "COMPLETE"))
            assert {m["type"] for m in got} == {"order"}  # no snapshot re-sent in between
        assert metrics.UPSTREAM_RESTARTS.labels("order_events")._value.get() == before
