"""The trader's daily Kite login through the gateway, end to end against an in-process kitesim:
the login redirect carries a signed state through Kite's `redirect_params`, the callback
exchanges the request token with the real kiteconnect client and stores the token sealed in
Redis; history's KiteSource, execution's Kite login callable and marketdata's TokenProvider take
each new login without a restart; an expired token shows `login needed` and costs one Kite call,
not a retry storm; bad state → 400 naming `state`, a Kite refusal → 502 with the envelope."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
import pytest_asyncio

from mandi.core.clock import IST
from mandi.core.errors import AuthError
from mandi.kite.auth import TokenProvider
from mandi.kite.session_store import KiteSessionStore, session_store
from mandi.platform.config import Settings, load_settings
from mandi.platform.logging import redact
from mandi.platform.redis import create_redis
from mandi.testing.gateway_auth import ADMIN_ENV
from mandi.testing.kitesim import KitesimServer, start_kitesim
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from services.execution.accounts import Account
from services.execution.brokers.kite import KiteBroker
from services.execution.wiring import kite_parts
from services.history.kite_source import KiteSource
from tests.integration.auth.kit import signed_in_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

ACC = "ACC_A"
NOWHERE = "127.0.0.1:1"


@dataclass
class Stack:
    settings: Settings
    sim: KitesimServer
    store: KiteSessionStore
    anon: httpx.AsyncClient
    users: dict[str, httpx.AsyncClient]
    checks: list[int]  # kitesim's authenticated Kite calls (Sessions.check), one slot


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack() -> AsyncIterator[Stack]:
    sim = start_kitesim(start=None, rate_limits=False)  # the wall clock: today's tokens
    checks = [0]
    real_check = sim.sim.sessions.check

    def counted(header: Any) -> Any:
        checks[0] += 1
        return real_check(header)

    sim.sim.sessions.check = counted
    try:
        async with fresh_database() as dsn, redis_namespace() as ns, AsyncExitStack() as stack:
            settings = load_settings({
                "MANDI_PG_DSN": dsn, "MANDI_REDIS_URL": ns.url,
                "MANDI_REDIS_PREFIX": ns.prefix + "kl", "MANDI_KITE_ROOT": sim.url,
                "MANDI_KITE_API_KEY": sim.api_key, "MANDI_KITE_API_SECRET": sim.api_secret,
                "MANDI_SHUTDOWN_GRACE_S": "1",
                **{f"MANDI_{s}_ADDR": NOWHERE for s in ("HISTORY", "MARKETDATA", "STRATEGY",
                                                        "EXECUTION")},
                **ADMIN_ENV})
            gw = await stack.enter_async_context(signed_in_gateway(settings, (
                ("trader_a", "trader", ACC), ("viewer_a", "viewer", ACC),
                ("trader_b", "trader", "ACC_B"))))
            redis = create_redis(settings.redis_url)
            stack.push_async_callback(redis.aclose)
            yield Stack(settings, sim, session_store(settings, redis), gw.anon, gw.users, checks)
    finally:
        sim.stop()


async def kite_login(s: Stack) -> dict[str, str]:
    """The browser's walk: gateway login → Kite's login page → Kite's redirect, whose query
    the browser then brings to the callback. Returns that query."""
    r = await s.users["trader_a"].get("/api/v1/kite/login", params={"account_id": ACC})
    assert r.status_code == 302, r.text
    page = r.headers["location"]
    assert page.startswith(f"{s.sim.url}/connect/login?")
    async with httpx.AsyncClient(timeout=10) as browser:
        kite = await browser.get(page)
    assert kite.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlparse(kite.headers["location"]).query).items()}
    assert query["status"] == "success" and query["state"] and query["request_token"]
    return query


async def candles(history: KiteSource) -> int:
    """A call that needs the access token (kitesim's instrument dump does not): INFY's
    daily candles of the last ten days; how many."""
    infy = next(i for i in await history.instruments("NSE") if i["tradingsymbol"] == "INFY")
    today = date.today()
    frame = await history.historical_candles(int(infy["instrument_token"]),
                                             today - timedelta(days=10), today, "day")
    return len(frame)


async def test_login_stores_the_token_sealed_and_every_service_takes_it(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    s = stack
    caplog.set_level(logging.DEBUG)
    r = await s.users["trader_a"].get("/api/v1/kite/session", params={"account_id": ACC})
    assert r.status_code == 200 and r.json()["state"] == "none"
    query = await kite_login(s)
    r = await s.anon.get("/api/v1/kite/callback", params=query)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "active" and r.json()["account_id"] == ACC
    token = await s.store.token(s.settings.kite_api_key)
    assert token and token not in r.text
    raw = await s.store.redis.get(s.store._key(s.settings.kite_api_key))
    assert raw and token not in str(raw)  # sealed at rest

    # history (its KiteSource), execution (its Kite login callable), marketdata (its provider)
    history = KiteSource(s.settings)
    try:
        assert await candles(history) > 0
    finally:
        await history.close()
    _, exec_login, _ = kite_parts(s.settings, Account("ZS0001", "kite"), s.store.redis)
    marketdata = TokenProvider(s.settings, s.store)
    assert await exec_login() == token == await marketdata.get()

    # a second login the next morning: taken without a restart
    r = await s.anon.get("/api/v1/kite/callback", params=await kite_login(s))
    assert r.status_code == 200, r.text
    fresh = await s.store.token(s.settings.kite_api_key)
    assert fresh != token
    assert await exec_login() == fresh == await marketdata.get()
    r = await s.users["trader_a"].get("/api/v1/kite/session", params={"account_id": ACC})
    body = r.json()
    assert body["state"] == "active" and body["expires_at"].endswith("+05:30")
    assert body["login_url"] == f"/api/v1/kite/login?account_id={ACC}"
    # every record of the run (the test's own HTTP clients too), as Mandi's log handlers
    # write them (mandi.platform.logging's redaction)
    logged = redact("\n".join(r.getMessage() for r in caplog.records))
    assert "took the Kite session of login 2" in logged  # the capture did see our lines
    for secret in (token, fresh, query["request_token"], s.settings.kite_api_secret):
        assert secret not in logged


async def test_expired_token_shows_login_needed_without_a_retry_storm(stack: Stack) -> None:
    s = stack
    r = await s.anon.get("/api/v1/kite/callback", params=await kite_login(s))
    assert r.status_code == 200, r.text
    # execution's broker, as its wiring builds one for a Kite account
    client, login, has_token = kite_parts(s.settings, Account("ZS0001", "kite"), s.store.redis)
    broker = KiteBroker(client, login=login, has_token=has_token,
                        login_version=lambda: s.store.status(client.api_key),
                        login_rejected=lambda v: s.store.mark_login_needed(client.api_key, v))
    assert "equity" in await broker.margins()
    s.sim.admin("ws/fault", {"expire_tokens": True})  # Kite's 06:00 expiry
    history = KiteSource(s.settings)
    other_service = TokenProvider(s.settings, s.store)
    try:
        before = s.checks[0]
        for _ in range(20):
            with pytest.raises(AuthError):
                await broker.margins()
        assert s.checks[0] - before == 1  # execution's broker: one rejected call, then none
        # ... and what execution saw, every service sees: no further Kite call from history
        r = await s.users["viewer_a"].get("/api/v1/kite/session", params={"account_id": ACC})
        assert r.status_code == 200 and r.json()["state"] == "login_needed"
        for _ in range(20):
            with pytest.raises(AuthError, match="login needed"):
                await candles(history)
        assert s.checks[0] - before == 1
        with pytest.raises(AuthError, match="login needed"):
            await other_service.get()
        r = await s.users["viewer_a"].get("/api/v1/kite/session", params={"account_id": ACC})
        assert r.status_code == 200 and r.json()["state"] == "login_needed"
        # the trader logs in again: history works again, no restart
        r = await s.anon.get("/api/v1/kite/callback", params=await kite_login(s))
        assert r.status_code == 200 and r.json()["state"] == "active"
        assert await candles(history) > 0
        assert "equity" in await broker.margins()
        assert await other_service.get() == await s.store.token(s.settings.kite_api_key)
        # the next morning history is the first to meet the expired token: one Kite call too
        s.sim.admin("ws/fault", {"expire_tokens": True})
        before = s.checks[0]
        for _ in range(20):
            with pytest.raises(AuthError):
                await candles(history)
        assert s.checks[0] - before == 1
        with pytest.raises(AuthError, match="login needed"):
            await other_service.get()
    finally:
        await history.close()
        await broker.close()


async def test_bad_state_and_kite_refusals(stack: Stack) -> None:
    s = stack
    query = await kite_login(s)
    for state in ("", "forged", query["state"][:-2] + "xx"):
        r = await s.anon.get("/api/v1/kite/callback", params={**query, "state": state})
        assert r.status_code == 400 and r.json()["error"].startswith("state"), r.text
    r = await s.anon.get("/api/v1/kite/callback", params={**query, "status": "cancelled"})
    assert r.status_code == 400 and r.json()["error"].startswith("status")
    r = await s.anon.get("/api/v1/kite/callback", params=query)
    assert r.status_code == 200
    # the same request token again: Kite refuses it (TokenException) → 502 with the envelope
    r = await s.anon.get("/api/v1/kite/callback", params=query)
    assert r.status_code == 502, r.text
    assert r.json()["error_type"] == "kite" and query["request_token"] not in r.text
    assert s.settings.kite_api_secret not in r.text


async def test_only_the_accounts_trader_starts_its_login(stack: Stack) -> None:
    s = stack
    r = await s.users["viewer_a"].get("/api/v1/kite/login", params={"account_id": ACC})
    assert r.status_code == 403
    r = await s.users["trader_b"].get("/api/v1/kite/login", params={"account_id": ACC})
    assert r.status_code == 404
    r = await s.anon.get("/api/v1/kite/login?" + urlencode({"account_id": ACC}))
    assert r.status_code == 401


async def test_a_token_is_login_needed_from_0600_ist_after_its_issue(stack: Stack) -> None:
    s = stack
    key = "six_oclock_key"
    issued = datetime(2026, 1, 5, 14, 30, tzinfo=IST)  # a Monday afternoon
    await s.store.put(key, "tok-not-used", issued)
    morning = datetime(2026, 1, 6, 6, 0, tzinfo=IST)
    before = await s.store.session(key, morning - timedelta(seconds=1))
    assert before.state == "active" and before.expires == morning
    assert (await s.store.session(key, morning)).state == "login_needed"


async def test_a_rejected_old_login_does_not_mark_a_newer_one(stack: Stack) -> None:
    store, key = stack.store, "mark-race-key"
    first = await store.put(key, "first-token-aaaaaaaa", datetime.now(IST))
    second = await store.put(key, "second-token-bbbbbbb", datetime.now(IST))
    await store.mark_login_needed(key, first)  # Kite refused the old one: the new one stands
    assert await store.status(key) == (second, "active")
    await store.mark_login_needed(key, second)
    assert await store.status(key) == (second, "login_needed")
