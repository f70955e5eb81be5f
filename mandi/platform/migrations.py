"""Numbered SQL migrations, applied once each, per service.

Each service keeps `NNN_name.sql` files in its own `migrations/` folder and runs them into its
own schema at start-up. Design choices:

* plain numbered SQL files (not column sniffing) so the schema's history is readable;
* one transaction per file, so a failing file leaves nothing half-applied and earlier files stay;
* a checksum per applied file, so editing history instead of adding a new file fails loudly;
* a session advisory lock per service for the whole run, so replicas starting together queue up
  instead of applying the same file twice.

Statements that cannot run inside a transaction (CREATE INDEX CONCURRENTLY) are not supported.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import asyncpg

from mandi.core.errors import ConfigError
from mandi.platform.db import ensure_schema, quote_schema

log = logging.getLogger(__name__)

_FILENAME = re.compile(r"^(?P<version>\d+)_(?P<name>[A-Za-z0-9_\-]+)\.sql$")

_LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    service    text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, version)
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # file name, e.g. "001_instruments.sql"
    sql: str
    checksum: str  # sha256 of the file bytes


def discover(directory: Path) -> list[Migration]:
    """The migrations in `directory`, in numeric order. Misnamed .sql files and duplicate
    versions are errors: a silently skipped migration is worse than a refused start."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILENAME.match(path.name)
        if match is None:
            raise ConfigError(
                f"migration file {path.name!r} is not named NNN_name.sql", field="migrations"
            )
        version = int(match["version"])
        if version in found:
            raise ConfigError(
                f"migrations {found[version].name!r} and {path.name!r} share version {version}",
                field="migrations",
            )
        data = path.read_bytes()
        found[version] = Migration(
            version, path.name, data.decode("utf-8"), hashlib.sha256(data).hexdigest()
        )
    return [found[v] for v in sorted(found)]


async def run_migrations(dsn: str, service: str, directory: Path) -> list[str]:
    """Apply the pending migrations of `service` from `directory` into schema `service`.

    Returns the file names applied by this call (empty when up to date). Raises ConfigError
    if an applied file's checksum changed; a failing file's error propagates after its
    transaction rolled back.
    """
    quoted = quote_schema(service)
    migrations = discover(directory)
    conn = await asyncpg.connect(dsn, server_settings={"application_name": f"migrate-{service}"})
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"mandi-migrations:{service}")
        try:
            await _ensure_ledger(conn)
            await ensure_schema(conn, service)
            return await _apply(conn, service, quoted, migrations)
        finally:
            await conn.execute(
                "SELECT pg_advisory_unlock(hashtext($1))", f"mandi-migrations:{service}"
            )
    finally:
        await conn.close()


async def _ensure_ledger(conn: asyncpg.Connection) -> None:
    # Different services migrate concurrently under different locks; CREATE TABLE IF NOT
    # EXISTS is not race-free, so the ledger's creation takes a lock of its own.
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('mandi-migrations'))")
        await conn.execute(_LEDGER_DDL)


async def _apply(
    conn: asyncpg.Connection, service: str, quoted: str, migrations: list[Migration]
) -> list[str]:
    rows = await conn.fetch(
        "SELECT version, name, checksum FROM public.schema_migrations WHERE service = $1",
        service,
    )
    applied = {r["version"]: r for r in rows}
    on_disk = {m.version for m in migrations}
    for m in migrations:
        row = applied.get(m.version)
        if row is not None and row["checksum"] != m.checksum:
            raise ConfigError(
                f"{service} migration {m.name} was changed after it was applied "
                f"(applied as {row['name']} with sha256 {row['checksum'][:12]}…, file is now "
                f"{m.checksum[:12]}…); add a new migration instead of editing an applied one",
                field="migrations",
            )
    for version in sorted(set(applied) - on_disk):
        log.warning(
            "%s: applied migration %s has no file any more", service, applied[version]["name"]
        )
    done: list[str] = []
    for m in migrations:
        if m.version in applied:
            continue
        async with conn.transaction():
            # SET LOCAL: a migration may change search_path itself without leaking it.
            await conn.execute(f"SET LOCAL search_path TO {quoted}, public")
            await conn.execute(m.sql)
            await conn.execute(
                "INSERT INTO public.schema_migrations (service, version, name, checksum)"
                " VALUES ($1, $2, $3, $4)",
                service,
                m.version,
                m.name,
                m.checksum,
            )
        log.info("%s: applied migration %s", service, m.name)
        done.append(m.name)
    return done


def database_name(dsn: str) -> str | None:
    """The database a `postgresql://` DSN names, or None when it names none."""
    path = urlparse(dsn).path.lstrip("/")
    return unquote(path) or None


async def ensure_database(dsn: str) -> bool:
    """Create the database named in `dsn` if missing (connecting to the `postgres` database).

    Returns True when this call created it. Safe to run from several processes at once.
    """
    name = database_name(dsn)
    if name is None:
        return False
    conn = await asyncpg.connect(dsn, database="postgres")
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        try:
            await conn.execute(f"CREATE DATABASE {quoted}")
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            return False
        log.info("created database %s", name)
        return True
    finally:
        await conn.close()
