"""Per-bot structured logs in PostgreSQL (`bot_logs`): what a bot did and why, for its owner.

A record is (ts, level, event, message, fields). The runner writes one at start, resume and
warm-up, for each signal and each order sent or refused, and on errors; `BotStore.set_status`
writes one for every status change in the change's own transaction. Writing never raises:
a log that cannot be stored is reported to the process log and trading goes on.

Every writer goes through `insert_log` (BotStore's status changes in their own transaction,
the signals' records, `BotLogs.write`). Retention is bounded two ways, checked on every
`PRUNE_EVERY`-th record: the writing bot keeps its newest `KEEP_PER_BOT` rows, and rows older
than `RETENTION` go (all bots).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from mandi.core.errors import InvalidInput
from services.strategy import metrics

log = logging.getLogger(__name__)

LEVELS = ("debug", "info", "warning", "error")
KEEP_PER_BOT = 5000
RETENTION = timedelta(days=30)
PRUNE_EVERY = 200
MAX_PAGE = 1000
DEFAULT_PAGE = 100


@dataclass
class BotLogRow:
    id: int
    bot_id: str
    ts: datetime
    level: str
    event: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


def page_limit(limit: int, field_name: str = "limit") -> int:
    if limit < 0 or limit > MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}", field=field_name)
    return limit or DEFAULT_PAGE


def level_at_least(level: str) -> list[str]:
    """The levels at or above `level` ('' = all)."""
    level = (level or "debug").strip().lower()
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}", field="level")
    return list(LEVELS[LEVELS.index(level):])


INSERT = ("INSERT INTO bot_logs (bot_id, level, event, message, fields)"
          " VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id")


async def insert_log(conn: Any, bot_id: str, level: str, event: str, message: str,
                     fields: dict[str, Any], *, keep_per_bot: int = KEEP_PER_BOT,
                     retention: timedelta = RETENTION) -> int:
    """Store one record on `conn` (inside the caller's transaction, if any); every
    PRUNE_EVERY-th record (by its id, over all bots) also prunes: the writing bot's rows beyond
    the newest `keep_per_bot`, and every bot's rows older than `retention`."""
    rec_id = await conn.fetchval(INSERT, bot_id, level, event, message,
                                 json.dumps(fields, default=str))
    metrics.BOT_LOG_RECORDS.labels(level).inc()
    if rec_id % PRUNE_EVERY == 0:
        await prune(conn, bot_id, keep_per_bot, retention)
    return rec_id


async def prune(conn: Any, bot_id: str, keep_per_bot: int, retention: timedelta) -> int:
    """How many rows went (see insert_log)."""
    status = await conn.execute(
        "DELETE FROM bot_logs WHERE bot_id = $1 AND id <= (SELECT id FROM bot_logs"
        " WHERE bot_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)", bot_id, keep_per_bot)
    gone = int(status.split()[-1])
    status = await conn.execute("DELETE FROM bot_logs WHERE ts < now() - $1::interval",
                                retention)
    return gone + int(status.split()[-1])


class BotLogs:
    def __init__(self, db: Any, *, keep_per_bot: int = KEEP_PER_BOT,
                 retention: timedelta = RETENTION) -> None:
        self.db = db  # anything with a `pool` (the BotStore: its pool is set at start-up)
        self.keep_per_bot = keep_per_bot
        self.retention = retention

    @property
    def pool(self) -> asyncpg.Pool:
        return self.db.pool

    async def write(self, bot_id: str, level: str, event: str, message: str,
                    **fields: Any) -> None:
        """Store one record; never raises (see the module docstring)."""
        try:
            async with self.pool.acquire() as conn:
                await insert_log(conn, bot_id, level, event, message, fields,
                                 keep_per_bot=self.keep_per_bot, retention=self.retention)
        except Exception as exc:
            log.warning("bot %s: storing log record %s failed: %s: %s", bot_id, event,
                        type(exc).__name__, exc)

    async def prune(self, bot_id: str) -> int:
        async with self.pool.acquire() as conn:
            return await prune(conn, bot_id, self.keep_per_bot, self.retention)

    async def after(self, bot_id: str, after_id: int, *, level: str = "",
                    limit: int = 500) -> list[BotLogRow]:
        """Oldest first: what a stream has not sent yet."""
        rows = await self.pool.fetch(
            "SELECT * FROM bot_logs WHERE bot_id = $1 AND id > $2 AND level = ANY($3::text[])"
            " ORDER BY id LIMIT $4", bot_id, after_id, level_at_least(level), limit)
        return [_log(r) for r in rows]

    async def list(self, bot_ids: list[str], *, level: str = "", since: datetime | None = None,
                   before_id: int = 0, limit: int = 0) -> list[BotLogRow]:
        """Newest first, of the given bots, at or above `level`, not before `since`, older
        than `before_id` when given."""
        rows = await self.pool.fetch(
            "SELECT * FROM bot_logs WHERE bot_id = ANY($1::text[]) AND level = ANY($2::text[])"
            " AND ($3::timestamptz IS NULL OR ts >= $3) AND ($4::bigint = 0 OR id < $4)"
            " ORDER BY id DESC LIMIT $5",
            bot_ids, level_at_least(level), since, before_id, page_limit(limit))
        return [_log(r) for r in rows]


def _log(r: asyncpg.Record) -> BotLogRow:
    return BotLogRow(id=r["id"], bot_id=r["bot_id"], ts=r["ts"], level=r["level"],
                     event=r["event"], message=r["message"], fields=json.loads(r["fields"]))
