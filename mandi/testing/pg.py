"""Throwaway PostgreSQL databases for integration tests.

Each test gets its own `mandi_test_<uuid>` database so tests can run in any order (and in
parallel) without seeing each other's rows; it is dropped afterwards, terminating stray
connections first (a leaked pool must not leave databases behind). The drop runs on a
background thread while the next test goes on (a drop costs 0.05-1.5 s, more on a busy server);
the process waits for pending drops before it exits.

Server: MANDI_TEST_PG_DSN, else MANDI_PG_DSN, else the local default. Use as a plugin
(`pytest_plugins = ["mandi.testing.pg"]`) for the `pg_dsn` fixture, or call `fresh_database()`.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import queue
import sys
import threading
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


async def _drop(admin_dsn: str, name: str) -> None:
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


class _Dropper:
    """Drops databases in order on one daemon thread; `drain` waits until none is pending."""

    def __init__(self) -> None:
        self.pending: queue.Queue[tuple[str, str]] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def submit(self, admin_dsn: str, name: str) -> None:
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="pg-drop", daemon=True)
                self.thread.start()
                atexit.register(self.drain)
        self.pending.put((admin_dsn, name))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        while True:
            admin_dsn, name = self.pending.get()
            try:
                loop.run_until_complete(_drop(admin_dsn, name))
            except Exception as exc:  # reported; the next drop still runs
                print(f"mandi.testing.pg: could not drop {name}: {exc!r}", file=sys.stderr)
            finally:
                self.pending.task_done()

    def drain(self) -> None:
        self.pending.join()


_DROPPER = _Dropper()


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
        _DROPPER.submit(admin_dsn, name)


@pytest_asyncio.fixture
async def pg_dsn() -> AsyncIterator[str]:
    """DSN of a fresh, empty database for this test."""
    async with fresh_database() as dsn:
        yield dsn
