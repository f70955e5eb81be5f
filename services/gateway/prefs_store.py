"""The gateway's per-user and platform preferences in PostgreSQL (migration 003): watchlists,
user settings and the platform settings changed at run time. Plain SQL on the auth pool; the
routers validate before anything reaches here."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from mandi.core.errors import InvalidInput

MAX_WATCHLIST = 200


class PrefsStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # --- watchlist ------------------------------------------------------------------------
    async def watchlist(self, username: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("SELECT symbol, added_at FROM watchlist WHERE username = $1"
                                     " ORDER BY position, added_at", username)
        return [{"symbol": r["symbol"], "added_at": r["added_at"].isoformat()} for r in rows]

    async def replace_watchlist(self, username: str, symbols: list[str]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM watchlist WHERE username = $1", username)
            await conn.executemany(
                "INSERT INTO watchlist (username, symbol, position) VALUES ($1, $2, $3)",
                [(username, s, i) for i, s in enumerate(symbols)])

    async def add(self, username: str, symbol: str) -> bool:
        """Appends `symbol`; False when it was already there. Serialised per user (a row lock
        on the user) so the length bound holds under concurrent adds."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1 FROM users WHERE username = $1 FOR UPDATE", username)
            if await conn.fetchval("SELECT 1 FROM watchlist WHERE username = $1 AND symbol = $2",
                                   username, symbol):
                return False
            count, last = await conn.fetchrow(
                "SELECT count(*), coalesce(max(position), -1) FROM watchlist"
                " WHERE username = $1", username)
            if count >= MAX_WATCHLIST:
                raise InvalidInput(f"the watchlist holds at most {MAX_WATCHLIST} symbols",
                                   field="symbol")
            await conn.execute("INSERT INTO watchlist (username, symbol, position)"
                               " VALUES ($1, $2, $3)", username, symbol, last + 1)
            return True

    async def remove(self, username: str, symbol: str) -> bool:
        done = await self.pool.execute("DELETE FROM watchlist WHERE username = $1 AND symbol = $2",
                                       username, symbol)
        return done != "DELETE 0"

    # --- user settings --------------------------------------------------------------------
    async def user_settings(self, username: str) -> dict[str, Any]:
        raw = await self.pool.fetchval("SELECT settings FROM user_settings WHERE username = $1",
                                       username)
        return json.loads(raw) if isinstance(raw, str) else dict(raw or {})

    async def set_user_settings(self, username: str, settings: dict[str, Any]) -> None:
        await self.pool.execute(
            "INSERT INTO user_settings (username, settings) VALUES ($1, $2::jsonb)"
            " ON CONFLICT (username) DO UPDATE SET settings = EXCLUDED.settings,"
            " updated_at = now()", username, json.dumps(settings))

    # --- platform settings changed at run time --------------------------------------------
    async def platform_overrides(self) -> dict[str, dict[str, Any]]:
        rows = await self.pool.fetch("SELECT key, value, updated_by, updated_at"
                                     " FROM platform_settings")
        return {r["key"]: {"value": json.loads(r["value"]), "updated_by": r["updated_by"],
                           "updated_at": r["updated_at"].isoformat()} for r in rows}

    async def set_platform(self, values: dict[str, Any], by: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            for key, value in values.items():
                await conn.execute(
                    "INSERT INTO platform_settings (key, value, updated_by) VALUES"
                    " ($1, $2::jsonb, $3) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
                    " updated_by = EXCLUDED.updated_by, updated_at = now()",
                    key, json.dumps(value), by)
