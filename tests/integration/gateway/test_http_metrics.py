"""The gateway's RED metrics, scraped from a real `/metrics` endpoint while the real gateway
(uvicorn) answers real requests: every route counted by its template — never the raw path, so
ids in paths and made-up URLs cannot grow the label set — with method and status, a duration
histogram and the in-flight gauge; WebSocket sessions by route and close code."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
import websockets

from mandi.platform.telemetry import start_metrics_server
from tests.integration.gateway.ws_kit import WsStack, close_code, next_message, ws_stack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack() -> AsyncIterator[WsStack]:
    async with ws_stack() as s:
        yield s


async def _scrape() -> str:
    server = start_metrics_server(0)
    try:
        async with httpx.AsyncClient() as c:
            return (await c.get(f"http://127.0.0.1:{server.port}/metrics")).text
    finally:
        await asyncio.to_thread(server.close)


def _value(text: str, name: str, **labels: str) -> float:
    """The sample of `name` whose labels include `labels` (0 when absent)."""
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}\{{(.*)\}} (\S+)$", line)
        if m and all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()):
            return float(m.group(2))
    return 0.0


async def test_routes_are_counted_by_template_method_and_status(stack: WsStack) -> None:
    http = stack.http["trader_a"]
    before = await _scrape()
    ids = [f"ord-{uuid.uuid4().hex}" for _ in range(3)]
    for oid in ids:
        r = await http.get(f"/api/v1/orders/{oid}", params={"account_id": stack.acc_a})
        assert r.status_code == 404, r.text
    r = await http.get("/api/v1/orders", params={"account_id": stack.acc_a})
    assert r.status_code == 200
    made_up = f"/api/no/such/{uuid.uuid4().hex}"  # elsewhere a GET is the web UI's page
    assert (await http.get(made_up)).status_code == 404
    after = await _scrape()

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    one = "/api/v1/orders/{order_id}"
    assert delta("mandi_http_requests_total", method="GET", route=one, status="404") == 3
    assert delta("mandi_http_requests_total", method="GET", route="/api/v1/orders",
                 status="200") == 1
    assert delta("mandi_http_requests_total", method="GET", route="<unmatched>",
                 status="404") == 1
    assert delta("mandi_http_request_duration_seconds_count", method="GET", route=one) == 3
    assert _value(after, "mandi_http_request_duration_seconds_sum", method="GET",
                  route=one) > 0
    # raw paths never become labels
    assert not any(i in after for i in ids) and made_up not in after
    assert "mandi_http_requests_in_flight" in after


async def test_a_request_refused_before_routing_keeps_its_template(stack: WsStack) -> None:
    http = stack.http["trader_a"]
    before = await _scrape()
    r = await http.post("/api/v1/orders", content=b"x" * (2 * 1024 * 1024 + 1),
                        headers={"content-type": "application/json"})
    assert r.status_code == 413
    after = await _scrape()
    labels = {"method": "POST", "route": "/api/v1/orders", "status": "413"}
    assert _value(after, "mandi_http_requests_total", **labels) - \
        _value(before, "mandi_http_requests_total", **labels) == 1


async def test_websocket_sessions_by_route_and_close_code(stack: WsStack) -> None:
    before = await _scrape()
    assert await close_code(stack.ws_url("/ws/orders", account_id=stack.acc_a)) == 4401
    async with websockets.connect(stack.ws_url("/ws/orders", "trader_a",
                                               account_id=stack.acc_a)) as ws:
        assert (await next_message(ws))["type"] == "snapshot"
        gauge = _value(await _scrape(), "mandi_ws_connections", channel="orders")
        assert gauge >= 1
    await asyncio.sleep(0.3)  # the server sees the client's close
    after = await _scrape()

    def delta(**labels: str) -> float:
        return _value(after, "mandi_ws_sessions_total", **labels) - \
            _value(before, "mandi_ws_sessions_total", **labels)

    assert delta(route="/ws/orders", code="4401") == 1
    assert delta(route="/ws/orders", code="1000") == 1
    assert _value(after, "mandi_ws_connections", channel="orders") == gauge - 1
    assert _value(after, "mandi_ws_messages_sent_total", channel="orders") >= 1
