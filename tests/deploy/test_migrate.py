"""scripts/migrate.py, the chart's migration Job: every service's migrations on a fresh real
database, each applied once (a second run applies nothing)."""

from __future__ import annotations

import asyncpg

from scripts.migrate import MIGRATIONS, migrate_all


async def test_migrate_applies_every_services_migrations_once(pg_dsn):
    first = await migrate_all(pg_dsn)
    assert set(first) == {"history", "strategy", "execution", "gateway"}
    for service, folder in MIGRATIONS.items():
        assert first[service] == sorted(p.name for p in folder.glob("*.sql")), service
    conn = await asyncpg.connect(pg_dsn)
    try:
        rows = await conn.fetch("SELECT service, count(*) AS n FROM public.schema_migrations "
                                "GROUP BY service")
        assert {r["service"]: r["n"] for r in rows} == {s: len(v) for s, v in first.items()}
        assert await conn.fetchval("SELECT to_regclass('history.ohlcv') IS NOT NULL")
    finally:
        await conn.close()
    assert await migrate_all(pg_dsn) == {s: [] for s in MIGRATIONS}
