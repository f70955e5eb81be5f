"""Throwaway PostgreSQL databases for integration tests.

Each test gets its own `mandi_test_<uuid>` database so tests can run in any order (and in
parallel) without seeing each other's rows; it is dropped afterwards, terminating stray
connections first (a leaked pool must not leave databases behind).

Server: MANDI_TEST_PG_DSN, else MANDI_PG_DSN, else the local default. Use as a plugin
(`pytest_plugins = ["mandi.testing.pg"]`) for the `pg_dsn` fixture, or call `fresh_database()`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlparse, urlunparse

import asyncpg
import pytest_asyncio

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def base_dsn() -> str:
    return os.environ.get("MANDI_TEST_PG_DSN") or os.environ.get("MANDI_PG_DSN") or DEFAULT_DSN


def with_database(dsn: str, database: str) -> str:
    """`dsn` pointing at another database (same host, user, options)."""
    parts = urlparse(dsn)
    return urlunparse(parts._replace(path="/" + database))


@asynccontextmanager
async def fresh_database(dsn: str | None = None) -> AsyncIterator[str]:
    """Create an empty database, yield its DSN, drop it afterwards."""
    admin_dsn = with_database(dsn or base_dsn(), "postgres")
    name = f"mandi_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield with_database(admin_dsn, name)
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest_asyncio.fixture
async def pg_dsn() -> AsyncIterator[str]:
    """DSN of a fresh, empty database for this test."""
    async with fresh_database() as dsn:
        yield dsn
