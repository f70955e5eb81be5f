"""REST rate limits against the real gateway (uvicorn), PostgreSQL and Redis: per user and per
client IP sliding windows, 429 with the error envelope and Retry-After, /healthz uncounted, and
the windows sliding open again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from mandi.core.errors import ConfigError
from mandi.platform.config import load_settings
from mandi.testing.asgi_server import serve_app
from mandi.testing.gateway_auth import ADMIN_ENV, GatewayLogin
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from services.gateway.app import create_app
from tests.integration.auth.conftest import NOWHERE, PASSWORD

pytestmark = [pytest.mark.integration]
in_loop = pytest.mark.asyncio(loop_scope="module")

USER_LIMIT, IP_LIMIT, WINDOW_S = 4, 9, 2


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def url() -> AsyncIterator[str]:
    async with fresh_database() as dsn, redis_namespace() as ns:
        settings = load_settings({
            "MANDI_PG_DSN": dsn, "MANDI_REDIS_URL": ns.url, "MANDI_REDIS_PREFIX": ns.prefix + "gw",
            "MANDI_SHUTDOWN_GRACE_S": "1",
            "MANDI_GATEWAY_RATE_USER": f"{USER_LIMIT}/{WINDOW_S}",
            "MANDI_GATEWAY_RATE_IP": f"{IP_LIMIT}/{WINDOW_S}s",
            **{f"MANDI_{s}_ADDR": NOWHERE for s in ("HISTORY", "MARKETDATA", "STRATEGY",
                                                    "EXECUTION")},
            **ADMIN_ENV})
        async with serve_app(create_app(settings)) as base:
            yield base


async def _settle() -> None:
    await asyncio.sleep(WINDOW_S + 0.2)  # every window of the previous test slides past


def _is_429(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["success"] is False and body["error_type"] == "rate_limit"
    assert 1 <= int(r.headers["retry-after"]) <= WINDOW_S
    assert "retry in" in body["error"]


@in_loop
async def test_user_limit_then_window_slides_open(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, auth=GatewayLogin()) as admin:
        await _settle()
        codes = [(await admin.get("/api/v1/auth/me")).status_code for _ in range(USER_LIMIT)]
        assert codes == [200] * USER_LIMIT  # login (IP only) + USER_LIMIT calls as admin
        over = await admin.get("/api/v1/auth/me")
        _is_429(over)
        assert "this user" in over.json()["error"]
        await asyncio.sleep(int(over.headers["retry-after"]) + 0.1)
        assert (await admin.get("/api/v1/auth/me")).status_code == 200


@in_loop
async def test_users_are_counted_apart(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, auth=GatewayLogin()) as admin:
        await _settle()
        r = await admin.post("/api/v1/users", json={"username": "other", "password": PASSWORD,
                                                    "role": "viewer"})
        assert r.status_code == 201, r.text
        await _settle()
        async with httpx.AsyncClient(base_url=url, auth=GatewayLogin("other", PASSWORD)) as other:
            for _ in range(USER_LIMIT):
                assert (await admin.get("/api/v1/auth/me")).status_code == 200
            _is_429(await admin.get("/api/v1/auth/me"))
            # the IP still has room (login + USER_LIMIT + 1 refused are under IP_LIMIT - 2)
            assert (await other.get("/api/v1/auth/me")).status_code == 200


@in_loop
async def test_ip_limit_counts_unauthenticated_requests(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as anon:
        await _settle()
        codes = [(await anon.get("/api/v1/auth/me")).status_code for _ in range(IP_LIMIT)]
        assert codes == [401] * IP_LIMIT
        _is_429(await anon.get("/api/v1/auth/me"))
        r = await anon.post("/api/v1/auth/login", json={"username": "admin", "password": "x"})
        _is_429(r)  # login too: the IP is counted before anything else
        assert "client IP" in r.json()["error"]
        # /healthz is not an API call: never counted, never refused
        assert [(await anon.get("/healthz")).status_code for _ in range(5)] == [200] * 5


@pytest.mark.parametrize("value", ["0/1", "5/0", "5", "5/-1", "a/b", "5/inf"])
def test_bad_window_settings_name_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"MANDI_GATEWAY_RATE_USER": value})
    assert err.value.field == "MANDI_GATEWAY_RATE_USER"


def test_off_disables_and_defaults_are_generous() -> None:
    assert load_settings({"MANDI_GATEWAY_RATE_IP": "off"}).gateway_rate_ip == ()
    defaults = load_settings({})
    assert min(limit for limit, s in defaults.gateway_rate_user if s <= 1) >= 20
