"""The auth tables (services/gateway/migrations/002_auth.sql): users, grants, refresh tokens and
cookie sessions, API keys, the signing secret, the audit log. Only hashes of secrets are read or
written here; callers hash with tokens.digest()."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from mandi.core.errors import AlreadyExists, AuthError, NotFound

USER_COLUMNS = "username, role, disabled, created_at, updated_at"


def _user_json(row: asyncpg.Record, accounts: list[str]) -> dict[str, Any]:
    return {"username": row["username"], "role": row["role"], "disabled": row["disabled"],
            "accounts": sorted(accounts), "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat()}


class AuthStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # --- users ---------------------------------------------------------------------------
    async def count_users(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM users"))

    async def create_user(self, username: str, password_hash: str, role: str,
                          *, if_none: bool = False) -> bool:
        """Add a user; with `if_none`, only while the table is empty (the first-run admin,
        race-free across replicas). False when `if_none` found users already."""
        async with self.pool.acquire() as conn, conn.transaction():
            if if_none:
                await conn.execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
                if await conn.fetchval("SELECT count(*) FROM users"):
                    return False
            try:
                await conn.execute("INSERT INTO users (username, password_hash, role)"
                                   " VALUES ($1, $2, $3)", username, password_hash, role)
            except asyncpg.UniqueViolationError:
                raise AlreadyExists(f"user {username!r} exists", field="username") from None
        return True

    async def password_hash(self, username: str) -> tuple[str | None, bool]:
        """(hash, disabled) of the user; (None, False) when there is none."""
        row = await self.pool.fetchrow(
            "SELECT password_hash, disabled FROM users WHERE username = $1", username)
        return (row["password_hash"], row["disabled"]) if row else (None, False)

    async def get_user(self, username: str) -> dict[str, Any]:
        row = await self.pool.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE username = $1",
                                       username)
        if row is None:
            raise NotFound(f"no user {username!r}", field="username")
        return _user_json(row, await self.grants_of(username))

    async def list_users(self) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(f"SELECT {USER_COLUMNS} FROM users ORDER BY username")
        grants = await self.pool.fetch("SELECT username, account_id FROM account_grants")
        by_user: dict[str, list[str]] = {}
        for g in grants:
            by_user.setdefault(g["username"], []).append(g["account_id"])
        return [_user_json(r, by_user.get(r["username"], [])) for r in rows]

    async def update_user(self, username: str, *, role: str | None, password_hash: str | None,
                          disabled: bool | None) -> dict[str, Any]:
        """Change what is given. A new password, a disable or a role change ends the user's
        refresh tokens and sessions (their access tokens die at the next request)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE users SET role = coalesce($2, role),"
                " password_hash = coalesce($3, password_hash),"
                " disabled = coalesce($4, disabled), updated_at = now()"
                " WHERE username = $1 RETURNING username", username, role, password_hash,
                disabled)
            if row is None:
                raise NotFound(f"no user {username!r}", field="username")
            if password_hash is not None or disabled or role is not None:
                await conn.execute("UPDATE auth_tokens SET revoked_at = now()"
                                   " WHERE username = $1 AND revoked_at IS NULL", username)
        return await self.get_user(username)

    async def delete_user(self, username: str) -> None:
        if await self.pool.fetchval("DELETE FROM users WHERE username = $1 RETURNING 1",
                                    username) is None:
            raise NotFound(f"no user {username!r}", field="username")

    async def admins(self) -> int:
        return int(await self.pool.fetchval(
            "SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled"))

    # --- grants ----------------------------------------------------------------------------
    async def grants_of(self, username: str) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT account_id FROM account_grants WHERE username = $1 ORDER BY account_id",
            username)
        return [r["account_id"] for r in rows]

    async def grant(self, account_id: str, username: str, by: str) -> bool:
        """True when the grant is new."""
        try:
            got = await self.pool.fetchval(
                "INSERT INTO account_grants (account_id, username, granted_by)"
                " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
                account_id, username, by)
        except asyncpg.ForeignKeyViolationError:
            raise NotFound(f"no user {username!r}", field="username") from None
        return got is not None

    async def revoke_grant(self, account_id: str, username: str) -> None:
        if await self.pool.fetchval(
                "DELETE FROM account_grants WHERE account_id = $1 AND username = $2"
                " RETURNING 1", account_id, username) is None:
            raise NotFound(f"user {username!r} holds no grant on {account_id!r}",
                           field="username")

    # --- who is calling ------------------------------------------------------------------
    async def principal_row(self, username: str, family: str = "") -> tuple[str, list[str]]:
        """(role, granted accounts) of an enabled user whose credential family (if any) is
        live; AuthError otherwise."""
        row = await self.pool.fetchrow(
            "SELECT u.role, array(SELECT account_id FROM account_grants g"
            "  WHERE g.username = u.username) AS accounts,"
            " ($2 = '' OR EXISTS (SELECT 1 FROM auth_tokens t WHERE t.family = $2"
            "  AND t.username = u.username AND t.revoked_at IS NULL AND t.expires_at > now()))"
            "  AS live"
            " FROM users u WHERE u.username = $1 AND NOT u.disabled", username, family)
        if row is None or not row["live"]:
            raise AuthError("credential no longer valid; log in again")
        return row["role"], list(row["accounts"])

    # --- refresh tokens and sessions ------------------------------------------------------
    async def add_token(self, token_hash: str, kind: str, family: str, username: str,
                        ttl_s: int) -> None:
        await self.pool.execute(
            "INSERT INTO auth_tokens (token_hash, kind, family, username, expires_at)"
            " VALUES ($1, $2, $3, $4, $5)", token_hash, kind, family, username,
            datetime.now(UTC) + timedelta(seconds=ttl_s))

    async def rotate(self, old_hash: str, new_hash: str, ttl_s: int) -> tuple[str, str]:
        """Spend a refresh token for the next one of its family: (username, family). A token
        spent twice revokes its family (the second presenter may be a thief)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT family, username, revoked_at, expires_at FROM auth_tokens"
                " WHERE token_hash = $1 AND kind = 'refresh' FOR UPDATE", old_hash)
            if row is None or row["expires_at"] <= datetime.now(UTC):
                raise AuthError("invalid or expired refresh token")
            reused = row["revoked_at"] is not None
            if reused:  # committed: the error is raised after the transaction
                await conn.execute("UPDATE auth_tokens SET revoked_at = now()"
                                   " WHERE family = $1 AND revoked_at IS NULL", row["family"])
            else:
                await conn.execute("UPDATE auth_tokens SET revoked_at = now()"
                                   " WHERE token_hash = $1", old_hash)
                await conn.execute(
                    "INSERT INTO auth_tokens (token_hash, kind, family, username, expires_at)"
                    " VALUES ($1, 'refresh', $2, $3, $4)", new_hash, row["family"],
                    row["username"], datetime.now(UTC) + timedelta(seconds=ttl_s))
        if reused:
            raise AuthError("refresh token already used; its session is revoked")
        return row["username"], row["family"]

    async def session(self, token_hash: str) -> tuple[str, str]:
        """(username, family) of a live cookie session; AuthError otherwise."""
        row = await self.pool.fetchrow(
            "SELECT username, family FROM auth_tokens WHERE token_hash = $1"
            " AND kind = 'session' AND revoked_at IS NULL AND expires_at > now()", token_hash)
        if row is None:
            raise AuthError("session expired; log in again")
        return row["username"], row["family"]

    async def family_of(self, token_hash: str) -> str | None:
        return await self.pool.fetchval(
            "SELECT family FROM auth_tokens WHERE token_hash = $1", token_hash)

    async def revoke_family(self, family: str) -> int:
        status = await self.pool.execute(
            "UPDATE auth_tokens SET revoked_at = now() WHERE family = $1"
            " AND revoked_at IS NULL", family)
        return int(status.split()[-1])

    # --- API keys --------------------------------------------------------------------------
    async def add_api_key(self, username: str, name: str, prefix: str,
                          key_hash: str) -> dict[str, Any]:
        row = await self.pool.fetchrow(
            "INSERT INTO api_keys (username, name, prefix, key_hash) VALUES ($1, $2, $3, $4)"
            " RETURNING id, name, prefix, created_at", username, name, prefix, key_hash)
        return {"id": row["id"], "name": row["name"], "prefix": row["prefix"],
                "created_at": row["created_at"].isoformat()}

    async def api_key_user(self, key_hash: str) -> str:
        username = await self.pool.fetchval(
            "UPDATE api_keys SET last_used_at = now() WHERE key_hash = $1"
            " AND revoked_at IS NULL RETURNING username", key_hash)
        if username is None:
            raise AuthError("invalid or revoked API key")
        return username

    async def list_api_keys(self, username: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT id, name, prefix, created_at, last_used_at FROM api_keys"
            " WHERE username = $1 AND revoked_at IS NULL ORDER BY id", username)
        return [{"id": r["id"], "name": r["name"], "prefix": r["prefix"],
                 "created_at": r["created_at"].isoformat(),
                 "last_used_at": r["last_used_at"].isoformat() if r["last_used_at"] else None}
                for r in rows]

    async def revoke_api_key(self, username: str, key_id: int, *, any_user: bool) -> None:
        got = await self.pool.fetchval(
            "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"
            " AND ($3 OR username = $2) RETURNING 1", key_id, username, any_user)
        if got is None:
            raise NotFound(f"no API key {key_id}", field="key_id")

    # --- signing secret ---------------------------------------------------------------------
    async def secret(self, name: str, generate: str) -> str:
        """The stored secret `name`, storing `generate` first if there is none."""
        await self.pool.execute("INSERT INTO auth_secrets (name, value) VALUES ($1, $2)"
                                " ON CONFLICT (name) DO NOTHING", name, generate)
        return await self.pool.fetchval("SELECT value FROM auth_secrets WHERE name = $1", name)

    # --- audit ------------------------------------------------------------------------------
    async def audit(self, actor: str, action: str, target: str = "", ip: str = "",
                    detail: dict[str, Any] | None = None) -> None:
        await self.pool.execute(
            "INSERT INTO audit_log (actor, action, target, ip, detail)"
            " VALUES ($1, $2, $3, $4, $5::jsonb)", actor, action, target, ip,
            json.dumps(detail or {}))

    async def audit_page(self, *, limit: int, before_id: int | None, actor: str,
                         action: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT id, ts, actor, action, target, ip, detail FROM audit_log"
            " WHERE ($1::bigint IS NULL OR id < $1) AND ($2 = '' OR actor = $2)"
            " AND ($3 = '' OR action = $3) ORDER BY id DESC LIMIT $4",
            before_id, actor, action, limit)
        return [{"id": r["id"], "ts": r["ts"].isoformat(), "actor": r["actor"],
                 "action": r["action"], "target": r["target"], "ip": r["ip"],
                 "detail": json.loads(r["detail"])} for r in rows]
