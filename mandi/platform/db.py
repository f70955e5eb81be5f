"""PostgreSQL connection pools.

Each service owns one schema named after it (DESIGN.md: a service's tables are written only by
that service). Pinning `search_path` at connect time lets service SQL use bare table names, and
because it is a startup parameter it survives the `RESET ALL` asyncpg runs when a connection
goes back to the pool.
"""

from __future__ import annotations

import re

import asyncpg

from mandi.core.errors import ConfigError

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def quote_schema(schema: str) -> str:
    """A validated, double-quoted schema identifier (schema names come from code, but SQL built
    from strings deserves a check)."""
    if not _IDENTIFIER.match(schema):
        raise ConfigError(f"invalid schema name {schema!r}", field="schema")
    return f'"{schema}"'


async def _rollback_only(conn: asyncpg.Connection) -> None:
    """Release-time reset for pools whose users keep no session state: end a transaction left
    open, skip asyncpg's full reset query (a round trip on every release)."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(
    dsn: str, *, schema: str | None = None, min_size: int = 1, max_size: int = 10,
    stateless: bool = False, role: str = "",
) -> asyncpg.Pool:
    """A pool whose connections run in UTC and, when `schema` is given, with
    `search_path = schema, public` (the schema is created if missing).

    `stateless=True` is for hot paths whose code never leaves session state behind (no
    LISTEN, no session advisory locks, no SET outside a transaction, no open cursors): a
    release then costs no round trip. search_path and timezone are connection settings and
    need no reset either way. `role` names a part of a process whose writes should be told
    apart in pg_stat_activity (`application_name` mandi-<schema>-<role>)."""
    app = f"mandi-{schema or 'client'}" + (f"-{role}" if role else "")
    server_settings = {"timezone": "UTC", "application_name": app}
    if schema is not None:
        quoted = quote_schema(schema)
        conn = await asyncpg.connect(dsn)
        try:
            await ensure_schema(conn, schema)
        finally:
            await conn.close()
        server_settings["search_path"] = f"{quoted}, public"
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, server_settings=server_settings,
        **({"reset": _rollback_only} if stateless else {}),
    )
    assert pool is not None
    return pool


async def ensure_schema(conn: asyncpg.Connection, schema: str) -> None:
    """CREATE SCHEMA IF NOT EXISTS, tolerating a concurrent creator (the statement is not
    race-free in PostgreSQL; losing the race is fine)."""
    quoted = quote_schema(schema)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    except (asyncpg.UniqueViolationError, asyncpg.DuplicateSchemaError):
        pass
