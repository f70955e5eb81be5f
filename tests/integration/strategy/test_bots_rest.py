"""REST → gateway → strategy service for bots, over real sockets and PostgreSQL: create with
the backtest run body (errors name the field), list, get, start/pause/stop, delete."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from mandi.platform.config import load_settings
from services.gateway.app import create_app
from services.gateway.clients import open_backends
from services.gateway.routers.strategy import principal

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

BOT = {"strategy": {"type": "ema_crossover", "params": {"fast": 5, "slow": 20}},
       "symbols": ["NSE:INFY"], "interval": "minute", "capital": 500000,
       "sizing": {"type": "fixed_qty", "qty": 4}, "name": "ema infy",
       "account_id": "PAPER1", "mode": "paper", "product": "MIS"}


@pytest_asyncio.fixture(loop_scope="module")
async def api(strategy, history) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings({"MANDI_STRATEGY_ADDR": f"127.0.0.1:{strategy.port}",
                              "MANDI_HISTORY_ADDR": f"127.0.0.1:{history[1]}"})
    app = create_app(settings)
    app.state.backends = open_backends(settings)
    md = (("mandi-user", f"u-{uuid.uuid4().hex[:10]}"),)
    app.dependency_overrides[principal] = lambda: md
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://gw", timeout=30) as client:
            yield client
    finally:
        await app.state.backends.close()


async def test_bot_lifecycle_over_rest(api):
    created = await api.post("/api/v1/bots", json=BOT)
    assert created.status_code == 201, created.text
    bot = created.json()
    assert bot["status"] == "created" and bot["mode"] == "paper"
    assert bot["symbols"] == ["NSE:INFY"] and bot["product"] == "MIS"
    assert bot["capital"] == 500000 and bot["strategy"]["type"] == "ema_crossover"
    bot_id = bot["id"]
    listed = (await api.get("/api/v1/bots")).json()["bots"]
    assert [b["id"] for b in listed] == [bot_id]
    for action, status in (("start", "running"), ("pause", "paused"), ("stop", "stopped")):
        r = await api.post(f"/api/v1/bots/{bot_id}/{action}")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status
    again = await api.post(f"/api/v1/bots/{bot_id}/pause")
    assert again.status_code == 409, again.text
    assert "deployment_id" in again.text
    got = (await api.get(f"/api/v1/bots/{bot_id}")).json()
    assert got["status"] == "stopped" and got["order_list"] == []
    assert (await api.delete(f"/api/v1/bots/{bot_id}")).status_code == 200
    assert (await api.get(f"/api/v1/bots/{bot_id}")).status_code == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"mode": "dry"}, "mode"),
    ({"account_id": ""}, "account_id"),
    ({"sizing": {"type": "kelly", "pct": 5}}, "sizing.type"),
    ({"symbols": ["INFY"]}, "symbols[0]"),
    ({"schedule": {"start": "09:10"}}, "schedule"),
    ({"strategy": {"type": "ema_crossover", "params": {"fast": 40, "slow": 20}}},
     "strategy.params.fast"),
])
async def test_create_bot_when_body_is_bad_is_400_naming_the_field(api, change, field):
    r = await api.post("/api/v1/bots", json={**BOT, **change})
    assert r.status_code in (400, 422), r.text
    assert field in r.text, r.text
