"""The gateway app alone under uvicorn on a fresh database and its own Redis prefix: enough for
sign-in, users and the guard, which refuses requests before any backend is called (the backend
addresses point at nothing; requests that get past the guard answer 503 there).

`users` holds signed-in clients: the first-run admin, and per role a user holding account
ACC_A only (viewer_a, trader_a) and one holding ACC_B only (trader_b)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest_asyncio
from fastapi import FastAPI

from mandi.platform.config import load_settings
from mandi.testing.gateway_auth import ADMIN_ENV
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from tests.integration.auth.kit import PASSWORD as PASSWORD  # the tests import it from here
from tests.integration.auth.kit import signed_in_gateway

ACC_A, ACC_B = "ACC_A", "ACC_B"
NOWHERE = "127.0.0.1:1"  # no backend: a request the guard admits fails there, with 503


@dataclass
class AuthStack:
    app: FastAPI
    url: str
    dsn: str
    admin: httpx.AsyncClient
    anon: httpx.AsyncClient
    users: dict[str, httpx.AsyncClient]  # username -> signed-in client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def auth_stack() -> AsyncIterator[AuthStack]:
    async with fresh_database() as dsn, redis_namespace() as ns:
        settings = load_settings({
            "MANDI_PG_DSN": dsn, "MANDI_REDIS_URL": ns.url, "MANDI_REDIS_PREFIX": ns.prefix + "gw",
            "MANDI_SHUTDOWN_GRACE_S": "1", "MANDI_LOGIN_MAX_FAILURES": "3",
            # the fuzz and route-matrix tests send hundreds of requests a second from one IP
            "MANDI_GATEWAY_RATE_IP": "off", "MANDI_GATEWAY_RATE_USER": "off",
            **{f"MANDI_{s}_ADDR": NOWHERE for s in ("HISTORY", "MARKETDATA", "STRATEGY",
                                                    "EXECUTION")},
            **ADMIN_ENV})
        async with signed_in_gateway(settings, (("viewer_a", "viewer", ACC_A),
                                                ("trader_a", "trader", ACC_A),
                                                ("trader_b", "trader", ACC_B))) as gw:
            yield AuthStack(gw.app, gw.url, dsn, gw.admin, gw.anon, gw.users)
