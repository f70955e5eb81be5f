"""Pools: schema search_path, UTC sessions, and the round-trip-free release of stateless pools."""

from __future__ import annotations

from mandi.platform.db import create_pool


async def test_stateless_pool_when_transaction_left_open_rolls_it_back_on_release(
    pg_dsn: str,
) -> None:
    pool = await create_pool(pg_dsn, schema="svc", max_size=1, stateless=True)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE t (x int)")
        conn = await pool.acquire()
        tx = conn.transaction()
        await tx.start()
        await conn.execute("INSERT INTO t VALUES (1)")
        await pool.release(conn)  # the caller forgot to commit: nothing may leak
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM t") == 0
            assert await conn.fetchval("SHOW search_path") == '"svc", public'
            assert await conn.fetchval("SHOW timezone") == "UTC"
    finally:
        await pool.close()
