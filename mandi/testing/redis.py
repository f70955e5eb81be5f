"""Redis for integration tests: a real server, keys isolated by a random prefix.

Tests share one Redis (and its db 0) but each test's keys start with `mandi_test:<uuid>:`, and
everything under the prefix is deleted afterwards, so tests neither collide nor leak.

Server: MANDI_TEST_REDIS_URL, else MANDI_REDIS_URL, else redis://127.0.0.1:6379/0. Plugin:
`pytest_plugins = ["mandi.testing.redis"]` gives the `test_redis` fixture.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest_asyncio
import redis.asyncio as aioredis

from mandi.platform.redis import create_redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return (
        os.environ.get("MANDI_TEST_REDIS_URL") or os.environ.get("MANDI_REDIS_URL") or DEFAULT_URL
    )


@dataclass
class RedisNamespace:
    """A client plus the key prefix a test must use."""

    client: aioredis.Redis
    url: str
    prefix: str

    def key(self, name: str) -> str:
        return self.prefix + name


@asynccontextmanager
async def redis_namespace(url: str | None = None) -> AsyncIterator[RedisNamespace]:
    url = url or redis_url()
    client = create_redis(url)
    ns = RedisNamespace(client, url, f"mandi_test:{uuid.uuid4().hex[:12]}:")
    try:
        await client.ping()
        yield ns
    finally:
        keys = [k async for k in client.scan_iter(match=ns.prefix + "*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest_asyncio.fixture
async def test_redis() -> AsyncIterator[RedisNamespace]:
    async with redis_namespace() as ns:
        yield ns
