"""The gateway (uvicorn, real sockets) hosting the notifier, on a fresh PostgreSQL database and
a Redis key prefix of this module, with the fake channel servers of fakes.py. One stack per
module; tests keep apart by notification user."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest_asyncio
from fastapi import FastAPI

from mandi.platform.config import load_settings
from mandi.testing.asgi_server import serve_app
from mandi.testing.gateway_auth import ADMIN_ENV, GatewayLogin
from mandi.testing.pg import fresh_database
from mandi.testing.redis import RedisNamespace, redis_namespace
from services.gateway.app import create_app
from tests.integration.notifier.fakes import FakeHttp, FakeSmtp


@dataclass
class NotifyStack:
    app: FastAPI
    http: httpx.AsyncClient
    redis: RedisNamespace
    prefix: str  # the gateway's MANDI_REDIS_PREFIX
    fake: FakeHttp
    smtp: FakeSmtp
    dsn: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def nstack() -> AsyncIterator[NotifyStack]:
    fake, smtp = FakeHttp(), FakeSmtp()
    await fake.start()
    smtp.start()
    try:
        async with fresh_database() as dsn, redis_namespace() as ns:
            prefix = ns.prefix + "gw"
            settings = load_settings({
                "MANDI_PG_DSN": dsn, "MANDI_REDIS_URL": ns.url, "MANDI_REDIS_PREFIX": prefix,
                "MANDI_NOTIFY_TELEGRAM_API": fake.url, "MANDI_NOTIFY_RETRY_ATTEMPTS": "3",
                "MANDI_NOTIFY_RETRY_BASE_S": "0.1", "MANDI_NOTIFY_RETRY_MAX_S": "1",
                "MANDI_SHUTDOWN_GRACE_S": "1", **ADMIN_ENV})
            app = create_app(settings)
            async with serve_app(app) as url, \
                    httpx.AsyncClient(base_url=url, timeout=60, auth=GatewayLogin()) as http:
                await asyncio.wait_for(app.state.notifier.ready.wait(), 60)
                yield NotifyStack(app, http, ns, prefix, fake, smtp, dsn)
    finally:
        smtp.stop()
        await fake.stop()
