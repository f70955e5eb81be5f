"""Migrations against a real PostgreSQL, one fresh database per test."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import asyncpg
import pytest

from mandi.core.errors import ConfigError
from mandi.platform.db import create_pool
from mandi.platform.migrations import ensure_database, run_migrations
from mandi.testing.pg import with_database

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


BASIC = {
    "001_items.sql": "CREATE TABLE items (id int PRIMARY KEY, label text);",
    "002_seed.sql": "INSERT INTO items VALUES (1, 'one');",
    "010_more.sql": "ALTER TABLE items ADD COLUMN qty int NOT NULL DEFAULT 0;",
}


async def ledger(dsn: str, service: str = "demo") -> list[tuple[int, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT version, name FROM public.schema_migrations WHERE service = $1"
            " ORDER BY version",
            service,
        )
        return [(r["version"], r["name"]) for r in rows]
    finally:
        await conn.close()


async def test_migrations_apply_in_numeric_order_into_service_schema_then_no_op(
    pg_dsn: str, tmp_path: Path
) -> None:
    d = write(tmp_path / "m", BASIC)
    assert await run_migrations(pg_dsn, "demo", d) == [
        "001_items.sql",
        "002_seed.sql",
        "010_more.sql",
    ]
    assert await run_migrations(pg_dsn, "demo", d) == []
    assert await ledger(pg_dsn) == [(1, "001_items.sql"), (2, "002_seed.sql"), (10, "010_more.sql")]
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM demo.items") == 1
        assert await conn.fetchval("SELECT to_regclass('public.items')") is None
    finally:
        await conn.close()


async def test_migrations_when_new_file_added_apply_only_it(pg_dsn: str, tmp_path: Path) -> None:
    d = write(tmp_path / "m", {"001_items.sql": BASIC["001_items.sql"]})
    await run_migrations(pg_dsn, "demo", d)
    write(d, {"002_seed.sql": BASIC["002_seed.sql"]})
    assert await run_migrations(pg_dsn, "demo", d) == ["002_seed.sql"]


async def test_two_concurrent_runners_apply_each_file_exactly_once(
    pg_dsn: str, tmp_path: Path
) -> None:
    files = {
        # the sleep widens the window in which an unlocked second runner would also start
        "001_items.sql": "SELECT pg_sleep(0.3); CREATE TABLE items (id int PRIMARY KEY);",
        "002_seed.sql": "INSERT INTO items VALUES (1);",
    }
    d = write(tmp_path / "m", files)
    a, b = await asyncio.gather(
        run_migrations(pg_dsn, "demo", d), run_migrations(pg_dsn, "demo", d)
    )
    assert sorted(a + b) == ["001_items.sql", "002_seed.sql"]
    assert {len(a), len(b)} == {0, 2}
    assert await ledger(pg_dsn) == [(1, "001_items.sql"), (2, "002_seed.sql")]


RUNNER = """
import asyncio, json, sys
from pathlib import Path
from mandi.platform.migrations import run_migrations
print(json.dumps(asyncio.run(run_migrations(sys.argv[1], "demo", Path(sys.argv[2])))))
"""


async def test_two_processes_apply_each_file_exactly_once(pg_dsn: str, tmp_path: Path) -> None:
    files = {
        "001_items.sql": "SELECT pg_sleep(0.3); CREATE TABLE items (id int PRIMARY KEY);",
        "002_seed.sql": "INSERT INTO items VALUES (1);",
        "003_more.sql": "INSERT INTO items VALUES (2);",
    }
    d = write(tmp_path / "m", files)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            RUNNER,
            pg_dsn,
            str(d),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 30)
    applied: list[str] = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        applied += json.loads(out)
    assert sorted(applied) == sorted(files)
    assert [name for _, name in await ledger(pg_dsn)] == sorted(files)


async def test_migrations_when_applied_file_changed_fail_loudly(
    pg_dsn: str, tmp_path: Path
) -> None:
    d = write(tmp_path / "m", BASIC)
    await run_migrations(pg_dsn, "demo", d)
    (d / "002_seed.sql").write_text("INSERT INTO items VALUES (2, 'two');")
    write(d, {"011_new.sql": "SELECT 1;"})
    with pytest.raises(ConfigError) as err:
        await run_migrations(pg_dsn, "demo", d)
    assert "002_seed.sql" in err.value.message and "changed" in err.value.message
    assert [v for v, _ in await ledger(pg_dsn)] == [1, 2, 10]  # nothing new applied


async def test_failing_migration_rolls_back_alone_and_later_run_resumes(
    pg_dsn: str, tmp_path: Path
) -> None:
    d = write(
        tmp_path / "m",
        {
            "001_items.sql": "CREATE TABLE items (id int PRIMARY KEY);",
            "002_bad.sql": "CREATE TABLE half (id int); SELECT no_such_function();",
        },
    )
    with pytest.raises(asyncpg.PostgresError):
        await run_migrations(pg_dsn, "demo", d)
    assert await ledger(pg_dsn) == [(1, "001_items.sql")]
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('demo.half')") is None
    finally:
        await conn.close()
    (d / "002_bad.sql").write_text("CREATE TABLE half (id int);")
    assert await run_migrations(pg_dsn, "demo", d) == ["002_bad.sql"]


@pytest.mark.parametrize("name", ["1-items.sql", "items.sql", "001_items.SQL.sql"])
async def test_misnamed_migration_file_is_refused(pg_dsn: str, tmp_path: Path, name: str) -> None:
    d = write(tmp_path / "m", {name: "SELECT 1;"})
    with pytest.raises(ConfigError):
        await run_migrations(pg_dsn, "demo", d)


async def test_duplicate_versions_are_refused(pg_dsn: str, tmp_path: Path) -> None:
    d = write(tmp_path / "m", {"001_a.sql": "SELECT 1;", "1_b.sql": "SELECT 1;"})
    with pytest.raises(ConfigError) as err:
        await run_migrations(pg_dsn, "demo", d)
    assert "001_a.sql" in err.value.message and "1_b.sql" in err.value.message


async def test_services_have_separate_ledgers_and_schemas(pg_dsn: str, tmp_path: Path) -> None:
    d = write(tmp_path / "m", {"001_items.sql": BASIC["001_items.sql"]})
    a, b = await asyncio.gather(
        run_migrations(pg_dsn, "alpha", d), run_migrations(pg_dsn, "beta", d)
    )
    assert a == b == ["001_items.sql"]
    assert await ledger(pg_dsn, "alpha") == await ledger(pg_dsn, "beta") == [(1, "001_items.sql")]


async def test_pool_with_schema_uses_it_first_and_runs_in_utc(pg_dsn: str, tmp_path: Path) -> None:
    await run_migrations(pg_dsn, "demo", write(tmp_path / "m", BASIC))
    pool = await create_pool(pg_dsn, schema="demo", max_size=2)
    try:
        async with pool.acquire() as conn:
            await conn.execute("SET search_path TO public")  # a query that misbehaves...
        async with pool.acquire() as conn:  # ...does not leak into the next user
            assert await conn.fetchval("SELECT label FROM items WHERE id = 1") == "one"
            assert await conn.fetchval("SHOW timezone") == "UTC"
    finally:
        await pool.close()
    fresh = await create_pool(pg_dsn, schema="brand_new")
    try:
        assert await fresh.fetchval("SELECT current_schema()") == "brand_new"
    finally:
        await fresh.close()
    with pytest.raises(ConfigError):
        await create_pool(pg_dsn, schema='x"; DROP TABLE items; --')


async def test_ensure_database_creates_once(pg_dsn: str) -> None:
    target = with_database(pg_dsn, pg_dsn.rsplit("/", 1)[1] + "_extra")
    try:
        assert await ensure_database(target) is True
        assert await ensure_database(target) is False
        conn = await asyncpg.connect(target)
        assert await conn.fetchval("SELECT current_database()") == target.rsplit("/", 1)[1]
        await conn.close()
    finally:
        admin = await asyncpg.connect(with_database(pg_dsn, "postgres"))
        await admin.execute(f'DROP DATABASE IF EXISTS "{target.rsplit("/", 1)[1]}" WITH (FORCE)')
        await admin.close()
