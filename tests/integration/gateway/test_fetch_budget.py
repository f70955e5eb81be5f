"""Bounded work per request over real sockets (gateway under uvicorn, history, kitesim, Redis):
a fetch estimated above the confirmation threshold is a 400 naming `confirm` (with the calls and
the time they take) until it says `"confirm": true`; each user's estimated Kite calls per IST day
are capped (429 with the envelope and Retry-After; a refused fetch charges nothing); and an
expired Kite session is a 409 `kite_login_needed`, not the 401 that means the caller's own login
is bad."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio

from mandi.kite.session_store import session_store
from mandi.platform.config import load_settings
from mandi.platform.redis import create_redis
from mandi.testing.gateway_auth import GatewayLogin
from mandi.testing.kitesim import KitesimServer
from mandi.testing.redis import redis_namespace
from services.gateway.fetch_budget import KiteCallQuota
from tests.integration.gateway.conftest import GatewayStack, open_stack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CONFIRM_ABOVE, PER_DAY = 2, 7
PASSWORD_B = "pw-quota-b-long-enough"
# 60minute bars: one Kite request per 400 days, so three years are 3 requests
THREE_CALLS = {"symbol": "INFY", "exchange": "NSE", "interval": "60minute",
               "from_date": "2021-01-01", "to_date": "2023-12-31", "async": True}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(sim: KitesimServer) -> AsyncIterator[GatewayStack]:
    async with redis_namespace() as ns, open_stack(sim, {
            "MANDI_REDIS_URL": ns.url, "MANDI_REDIS_PREFIX": ns.prefix + "fb",
            "MANDI_GATEWAY_FETCH_CONFIRM_CALLS": str(CONFIRM_ABOVE),
            "MANDI_GATEWAY_KITE_CALLS_PER_DAY": str(PER_DAY)}) as opened:
        yield opened


def settings_of(stack: GatewayStack):
    return stack.app.state.auth.settings


async def used_today(stack: GatewayStack, user: str) -> int:
    host = stack.app.state.auth
    quota = KiteCallQuota(host.redis, host.settings.redis_prefix, PER_DAY)
    return await quota.used(user, stack.app.state.clock.now())


async def cancel(http: httpx.AsyncClient, r: httpx.Response) -> None:
    await http.delete(f"/api/data/jobs/{r.json()['job_id']}")


async def test_fetch_when_over_threshold_without_confirm_is_400_naming_confirm(
        stack: GatewayStack) -> None:
    r = await stack.http.post("/api/data/fetch-equity", json=THREE_CALLS)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error_type"] == "validation" and body["error"].startswith("confirm")
    assert "about 3 Kite calls" in body["error"] and "req/s" in body["error"]
    # the review's request: 50 symbols × (minute, 3minute) from 1900 — refused at once
    batch = {"async": True, "requests": [
        {"symbol": f"SYM{i}", "interval": iv, "from_date": "1900-01-01",
         "to_date": "2026-11-20"} for i in range(50) for iv in ("minute", "3minute")]}
    t0 = time.monotonic()
    r = await stack.http.post("/api/data/fetch-batch", json=batch)
    took = time.monotonic() - t0
    assert r.status_code == 400 and "about 61,850 Kite calls" in r.json()["error"], r.text
    assert "about 21 min at the historical rate limit of 50 req/s" in r.json()["error"]
    assert took < 2.0, took
    r = await stack.http.post("/api/data/fetch-derivatives",
                              json={**THREE_CALLS, "exchange": "NFO", "symbol": "NIFTY"})
    assert r.status_code == 400 and r.json()["error"].startswith("confirm")
    assert await used_today(stack, "admin") == 0  # nothing refused was charged


async def test_quota_when_a_users_day_is_used_up_is_429_and_other_users_go_on(
        stack: GatewayStack) -> None:
    http = stack.http
    for expected in (3, 6):
        r = await http.post("/api/data/fetch-equity", json={**THREE_CALLS, "confirm": True})
        assert r.status_code == 202, r.text
        await cancel(http, r)
        assert await used_today(stack, "admin") == expected
    r = await http.post("/api/data/fetch-equity", json={**THREE_CALLS, "confirm": True})
    assert r.status_code == 429, r.text
    assert r.json()["error_type"] == "rate_limit" and r.json()["success"] is False
    assert "quota" in r.json()["error"] and "6 of 7" in r.json()["error"]
    assert 0 < int(r.headers["retry-after"]) <= 86400
    assert await used_today(stack, "admin") == 6  # the refused fetch charged nothing
    # another user has a day of their own; a batch counts every listed item (2 × 3)
    r = await http.post("/api/v1/users", json={"username": "quota_b", "password": PASSWORD_B,
                                               "role": "trader"})
    assert r.status_code in (200, 201), r.text
    async with httpx.AsyncClient(base_url=str(http.base_url), timeout=60,
                                 auth=GatewayLogin("quota_b", PASSWORD_B)) as other:
        batch = {"async": True, "confirm": True, "requests": [
            {"symbol": s, "interval": "60minute", "from_date": "2021-01-01",
             "to_date": "2023-12-31"} for s in ("INFY", "TCS")]}
        r = await other.post("/api/data/fetch-batch", json=batch)
        assert r.status_code == 202, r.text
        await cancel(other, r)
        assert await used_today(stack, "quota_b") == 6
        r = await other.post("/api/data/fetch-batch", json=batch)
        assert r.status_code == 429 and r.json()["error_type"] == "rate_limit"


async def test_expired_kite_session_is_409_kite_login_needed_not_401(
        stack: GatewayStack) -> None:
    s = load_settings({"MANDI_REDIS_URL": settings_of(stack).redis_url,
                       "MANDI_REDIS_PREFIX": settings_of(stack).redis_prefix,
                       "MANDI_KITE_API_KEY": stack.sim.api_key})
    redis = create_redis(s.redis_url)
    store = session_store(s, redis)
    try:
        await store.redis.delete(KiteCallQuota(redis, s.redis_prefix, PER_DAY).key(
            "admin", stack.app.state.clock.now()))
        # a stored login whose token Kite no longer accepts (what 06:00 IST does to it)
        await store.put(s.kite_api_key, "expired-token-of-yesterday", datetime.now(UTC))
        body = {"symbol": "INFY", "exchange": "NSE", "interval": "day",
                "from_date": "2024-01-01", "to_date": "2024-01-31"}
        r = await stack.http.post("/api/data/fetch-equity", json=body)
        assert r.status_code == 409, r.text
        assert r.json()["error_type"] == "kite_login_needed"
        assert "login" in r.json()["error"].lower()
        assert "expired-token-of-yesterday" not in r.text
        r = await stack.http.get("/api/v1/auth/me")  # the user's own login is still good
        assert r.status_code == 200
        r = await stack.http.get("/api/v1/kite/session", params={"account_id": "ACC"})
        assert r.status_code == 200 and r.json()["state"] == "login_needed"
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{s.redis_prefix}:kite:session:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
