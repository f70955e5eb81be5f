"""The notifier's PostgreSQL tables (services/gateway/migrations): settings, notifications with
read state, and per-channel deliveries. Every statement filters on user_id."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from mandi.core.errors import NotFound
from services.notifier import settings as st

DEFAULT_USER = "default"  # what services publish to (mandi.platform.notify_events)


class NotifyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # --- settings ---------------------------------------------------------------------------
    async def settings(self, user: str) -> dict[str, Any]:
        """The user's full settings, unmasked (defaults where nothing is stored)."""
        row = await self.pool.fetchrow(
            "SELECT channels, events FROM notify_settings WHERE user_id = $1", user)
        if row is None:
            return st.full(None, None)
        return st.full(json.loads(row["channels"]), json.loads(row["events"]))

    async def update_settings(self, user: str, body: Any) -> dict[str, Any]:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('notify_settings:' || $1))",
                               user)
            row = await conn.fetchrow(
                "SELECT channels, events FROM notify_settings WHERE user_id = $1", user)
            current = st.full(json.loads(row["channels"]), json.loads(row["events"])) \
                if row else st.full(None, None)
            new = st.merge(current, body)
            await conn.execute(
                "INSERT INTO notify_settings (user_id, channels, events, updated_at)"
                " VALUES ($1, $2::jsonb, $3::jsonb, now()) ON CONFLICT (user_id) DO UPDATE"
                " SET channels = EXCLUDED.channels, events = EXCLUDED.events, updated_at = now()",
                user, json.dumps(new["channels"]), json.dumps(new["events"]))
        return new

    # --- who is told ------------------------------------------------------------------------
    async def recipients(self, event: dict[str, Any]) -> list[str]:
        """The users an event is for. Services publish to the placeholder user `default` (they
        know accounts, not users): such an event goes to every enabled user granted its
        `account_id` (the gateway's account_grants), and one that names no held account (a
        history fetch job, an account nobody holds) to the enabled admins. An event addressed
        to a real user goes to that user alone."""
        user = event.get("user") or DEFAULT_USER
        if user != DEFAULT_USER:
            return [user]
        account = event.get("data", {}).get("account_id")
        rows = []
        if isinstance(account, str) and account:
            rows = await self.pool.fetch(
                "SELECT g.username FROM account_grants g JOIN users u USING (username)"
                " WHERE g.account_id = $1 AND NOT u.disabled ORDER BY g.username", account)
        if not rows:
            rows = await self.pool.fetch(
                "SELECT username FROM users WHERE role = 'admin' AND NOT disabled"
                " ORDER BY username")
        return [r["username"] for r in rows] or [DEFAULT_USER]

    # --- notifications ----------------------------------------------------------------------
    async def record(self, event: dict[str, Any], text: str) -> int:
        """Store the notification (once per event id) and return its id."""
        nid = await self.pool.fetchval(
            "INSERT INTO notifications (event_id, user_id, kind, text, data)"
            " VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (event_id) DO NOTHING RETURNING id",
            event["id"], event["user"], event["kind"], text, json.dumps(event["data"]))
        if nid is None:
            nid = await self.pool.fetchval("SELECT id FROM notifications WHERE event_id = $1",
                                           event["id"])
        return int(nid)

    async def list(self, user: str, *, page: int, page_size: int,
                   unread_only: bool) -> tuple[list[dict[str, Any]], int, int]:
        """(items of the page, newest first; total matching; unread count)."""
        rows = await self.pool.fetch(
            "SELECT id, kind, text, data, created_at, read_at FROM notifications"
            " WHERE user_id = $1 AND (NOT $2 OR read_at IS NULL)"
            " ORDER BY id DESC LIMIT $3 OFFSET $4",
            user, unread_only, page_size, (page - 1) * page_size)
        counts = await self.pool.fetchrow(
            "SELECT count(*) FILTER (WHERE NOT $2 OR read_at IS NULL) AS total,"
            " count(*) FILTER (WHERE read_at IS NULL) AS unread"
            " FROM notifications WHERE user_id = $1", user, unread_only)
        items = [{"id": r["id"], "kind": r["kind"], "text": r["text"],
                  "data": json.loads(r["data"]), "created_at": r["created_at"],
                  "read": r["read_at"] is not None, "read_at": r["read_at"]} for r in rows]
        return items, int(counts["total"]), int(counts["unread"])

    async def mark_read(self, user: str, nid: int) -> None:
        found = await self.pool.fetchval(
            "UPDATE notifications SET read_at = coalesce(read_at, now())"
            " WHERE user_id = $1 AND id = $2 RETURNING id", user, nid)
        if found is None:
            raise NotFound(f"no notification {nid}", field="id")

    async def mark_all_read(self, user: str) -> int:
        result = await self.pool.execute(
            "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL",
            user)
        return int(result.split()[-1])

    # --- deliveries -------------------------------------------------------------------------
    async def delivered(self, nid: int) -> set[str]:
        """Channels already done with this notification (a redelivered event skips them)."""
        rows = await self.pool.fetch(
            "SELECT channel FROM notification_deliveries WHERE notification_id = $1"
            " AND state IN ('sent', 'failed')", nid)
        return {r["channel"] for r in rows}

    async def set_delivery(self, nid: int, channel: str, state: str, attempts: int,
                           error: str = "") -> None:
        await self.pool.execute(
            "INSERT INTO notification_deliveries (notification_id, channel, state, attempts,"
            " error, updated_at) VALUES ($1, $2, $3, $4, $5, now())"
            " ON CONFLICT (notification_id, channel) DO UPDATE SET state = EXCLUDED.state,"
            " attempts = EXCLUDED.attempts, error = EXCLUDED.error, updated_at = now()",
            nid, channel, state, attempts, error[:500])

    async def deliveries(self, nid: int) -> dict[str, dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT channel, state, attempts, error FROM notification_deliveries"
            " WHERE notification_id = $1", nid)
        return {r["channel"]: dict(r) for r in rows}
