"""Per-bot structured logs in PostgreSQL (`bot_logs`): what a bot did and why, for its owner.

A record is (ts, level, event, message, fields). The runner writes one at start, resume and
warm-up, for each signal and each order sent or refused, and on errors; `BotStore.set_status`
writes one for every status change in the change's own transaction. Writing never raises:
a log that cannot be stored is reported to the process log and trading goes on.

Retention is bounded two ways: every `PRUNE_EVERY` writes of a bot, its rows beyond the newest
`keep_per_bot` are deleted, and rows older than `retention` are deleted (all bots) at most once
an hour per process.
"""

from __future__ import annotations

import json
import logging
import time
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
AGE_PRUNE_S = 3600.0
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
          " VALUES ($1, $2, $3, $4, $5::jsonb)")


class BotLogs:
    def __init__(self, db: Any, *, keep_per_bot: int = KEEP_PER_BOT,
                 retention: timedelta = RETENTION) -> None:
        self.db = db  # anything with a `pool` (the BotStore: its pool is set at start-up)
        self.keep_per_bot = keep_per_bot
        self.retention = retention
        self._writes: dict[str, int] = {}
        self._last_age_prune = 0.0

    @property
    def pool(self) -> asyncpg.Pool:
        return self.db.pool

    async def write(self, bot_id: str, level: str, event: str, message: str,
                    **fields: Any) -> None:
        """Store one record; never raises (see the module docstring)."""
        try:
            await self.pool.execute(INSERT, bot_id, level, event, message,
                                    json.dumps(fields, default=str))
            metrics.BOT_LOG_RECORDS.labels(level).inc()
            n = self._writes[bot_id] = self._writes.get(bot_id, 0) + 1
            if n % PRUNE_EVERY == 0:
                await self.prune(bot_id)
        except Exception as exc:
            log.warning("bot %s: storing log record %s failed: %s: %s", bot_id, event,
                        type(exc).__name__, exc)

    async def prune(self, bot_id: str) -> int:
        """Drop the bot's rows beyond the newest `keep_per_bot`, and (hourly) every bot's rows
        older than the retention; returns how many rows went."""
        status = await self.pool.execute(
            "DELETE FROM bot_logs WHERE bot_id = $1 AND id <= (SELECT id FROM bot_logs"
            " WHERE bot_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)", bot_id, self.keep_per_bot)
        gone = int(status.split()[-1])
        now = time.monotonic()
        if now - self._last_age_prune >= AGE_PRUNE_S:
            self._last_age_prune = now
            status = await self.pool.execute(
                "DELETE FROM bot_logs WHERE ts < now() - $1::interval", self.retention)
            gone += int(status.split()[-1])
        return gone

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
