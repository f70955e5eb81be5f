"""mandi.testing.pg.fresh_database: an empty database of its own, dropped after use (on the
background dropper) even when a connection to it was leaked."""

from __future__ import annotations

import asyncio

import asyncpg

from mandi.testing import pg


async def _exists(name: str) -> bool:
    conn = await asyncpg.connect(pg.with_database(pg.base_dsn(), "postgres"))
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def test_database_is_fresh_then_dropped_with_a_leaked_connection() -> None:
    async with pg.fresh_database() as dsn:
        name = dsn.rsplit("/", 1)[1]
        assert name.startswith("mandi_test_") and await _exists(name)
        leaked = await asyncpg.connect(dsn)
        assert await leaked.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN"
            " ('pg_catalog', 'information_schema')") == 0
    await asyncio.to_thread(pg._DROPPER.drain)
    assert not await _exists(name)
    assert leaked.is_closed() or not await _alive(leaked)


async def _alive(conn: asyncpg.Connection) -> bool:
    try:
        await conn.fetchval("SELECT 1")
        return True
    except (asyncpg.PostgresError, ConnectionError, asyncpg.InterfaceError):
        return False
