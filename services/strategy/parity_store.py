"""PostgreSQL access for parity reports: one row per bot and IST day (`bot_parity`), and what
the report reads of the bot's own tables (its pause windows from `bot_audit`, the bots that
placed orders on a day from `bot_orders`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg

from services.strategy import parity


def ns_of(dt: datetime) -> int:
    """Epoch ns of a tz-aware datetime (exact to the microsecond)."""
    return int(dt.timestamp()) * 10**9 + dt.microsecond * 1000


def utc_of(ns: int) -> datetime:
    """The UTC datetime of epoch ns (the inverse of `ns_of`, to the microsecond)."""
    return datetime.fromtimestamp(ns / 1e9, UTC)


@dataclass
class StoredReport:
    report: parity.ParityReport
    computed_at: datetime
    stored: bool


class ParityStore:
    def __init__(self, pool: asyncpg.Pool | None) -> None:
        self.pool = pool

    async def get(self, bot_id: str, day: date) -> StoredReport | None:
        rec = await self.pool.fetchrow(  # type: ignore[union-attr]
            "SELECT report, computed_at FROM bot_parity WHERE bot_id = $1 AND day = $2",
            bot_id, day)
        if rec is None:
            return None
        return StoredReport(parity.ParityReport.from_dict(json.loads(rec["report"])),
                            rec["computed_at"], True)

    async def put(self, bot_id: str, day: date, report: parity.ParityReport) -> datetime:
        return await self.pool.fetchval(  # type: ignore[union-attr]
            "INSERT INTO bot_parity (bot_id, day, unexplained, report) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (bot_id, day) DO UPDATE SET unexplained = EXCLUDED.unexplained,"
            " report = EXCLUDED.report, computed_at = now() RETURNING computed_at",
            bot_id, day, report.unexplained, json.dumps(report.as_dict()))

    async def reported(self, day: date) -> set[str]:
        rows = await self.pool.fetch(  # type: ignore[union-attr]
            "SELECT bot_id FROM bot_parity WHERE day = $1", day)
        return {r["bot_id"] for r in rows}

    async def paused(self, bot_id: str) -> tuple[tuple[int, int | None], ...]:
        """[from, to) of each time the bot was paused, from its audit (pause → start/stop)."""
        rows = await self.pool.fetch(  # type: ignore[union-attr]
            "SELECT ts, action FROM bot_audit WHERE bot_id = $1"
            " AND action IN ('running', 'paused', 'stopped', 'error') ORDER BY id", bot_id)
        out: list[tuple[int, int | None]] = []
        since: int | None = None
        for r in rows:
            if r["action"] == "paused":
                since = ns_of(r["ts"]) if since is None else since
            elif since is not None:
                out.append((since, ns_of(r["ts"])))
                since = None
        if since is not None:
            out.append((since, None))
        return tuple(out)

    async def traded(self, start_ns: int, end_ns: int) -> set[str]:
        rows = await self.pool.fetch(  # type: ignore[union-attr]
            "SELECT DISTINCT bot_id FROM bot_orders WHERE bar_ts >= $1 AND bar_ts < $2",
            utc_of(start_ns), utc_of(end_ns))
        return {r["bot_id"] for r in rows}
