"""PostgreSQL access for bots: their definition, status, per-bar state, audit and sent orders.

Status changes are single UPDATEs with the allowed previous statuses in the WHERE clause, so a
stop racing a start leaves one consistent answer, and every change writes its audit row in the
same transaction, with a per-bot log record (bot_logs.py). The runner saves a bar's state and
the orders it sent for the bar together; the saves of many bots arriving at once share one
transaction, and so do execution's answers to their orders (group commit:
services/strategy/group_commit.py).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from mandi.core.errors import AlreadyExists, NotFound, PreconditionFailed
from services.strategy.bot_engine import OrderIntent
from services.strategy.bot_logs import insert_log
from services.strategy.group_commit import GroupCommit

log = logging.getLogger(__name__)

STATUSES = ("created", "running", "paused", "stopped", "error")
# target status → statuses it may be reached from
TRANSITIONS = {
    "running": ("created", "paused", "stopped", "error", "running"),
    "paused": ("running", "paused"),
    "stopped": ("created", "running", "paused", "error", "stopped"),
}


def new_bot_id() -> str:
    """16 characters: short enough to leave room for the bar and leg in a client_order_id."""
    return "b" + secrets.token_hex(8)[:15]


@dataclass
class BotRow:
    id: str
    owner: str
    name: str
    spec: bytes
    account_id: str
    mode: str
    product: str
    status: str = "created"
    error: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    bars: int = 0
    orders: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # {"start", "stop", "days"} (services/strategy/bot_schedule.py); None: started by hand
    schedule: dict[str, str] | None = None
    schedule_day: date | None = None  # the IST day the schedule last started the bot


def _bot(row: asyncpg.Record) -> BotRow:
    return BotRow(id=row["id"], owner=row["owner"], name=row["name"], spec=bytes(row["spec"]),
                  account_id=row["account_id"], mode=row["mode"], product=row["product"],
                  status=row["status"], error=row["error"], state=json.loads(row["state"]),
                  bars=row["bars"], orders=row["orders"], created_at=row["created_at"],
                  updated_at=row["updated_at"],
                  schedule=json.loads(row["schedule"]) if row["schedule"] else None,
                  schedule_day=row["schedule_day"])


@dataclass
class BotOrderRow:
    client_order_id: str
    bar_ts: datetime
    symbol: str
    side: str
    quantity: int
    tag: str
    reason: str
    order_id: str
    status: str
    filled_quantity: int = 0
    average_price_paise: int = 0
    filled_at: datetime | None = None
    gtt_id: str = ""


# a bot's status change → the notification event it raises (mandi.platform.notify_events)
NOTIFY_KIND = {"running": "bot_started", "stopped": "bot_stopped", "error": "bot_error"}


@dataclass
class _Save:
    bot_id: str
    state: str  # JSON
    orders: list[OrderIntent]
    live_bar: bool


@dataclass
class _Ack:
    bot_id: str
    client_order_id: str
    order_id: str
    status: str


class BotStore:
    def __init__(self, pool: asyncpg.Pool,
                 notify: Callable[[str, dict[str, Any]], Any] | None = None) -> None:
        self.pool = pool
        self._saves = GroupCommit(self._write_saves, lambda s: s.bot_id, "bot-saves")
        self._acks = GroupCommit(self._write_acks, lambda a: (a.bot_id, a.client_order_id),
                                 "bot-order-acks")
        # called (fire and forget) after a status change commits; wired to publish_event
        self.notify = notify

    async def create(self, row: BotRow, actor: str) -> BotRow:
        async with self.pool.acquire() as conn, conn.transaction():
            try:
                rec = await conn.fetchrow(
                    "INSERT INTO bots (id, owner, name, spec, account_id, mode, product,"
                    " schedule) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) RETURNING *",
                    row.id, row.owner, row.name, row.spec, row.account_id, row.mode,
                    row.product, None if row.schedule is None else json.dumps(row.schedule))
            except asyncpg.UniqueViolationError:
                raise AlreadyExists(f"a bot named {row.name!r} already exists",
                                    field="name") from None
            await self._audit(conn, row.id, actor, "create", "")
            await insert_log(conn, row.id, "info", "status", f"created by {actor}",
                             {"status": "created", "actor": actor})
        return _bot(rec)

    async def get(self, bot_id: str, *, owner: str | None = None) -> BotRow:
        rec = await self.pool.fetchrow("SELECT * FROM bots WHERE id = $1", bot_id)
        if rec is None or (owner is not None and rec["owner"] != owner):
            raise NotFound(f"no bot {bot_id}", field="id")
        return _bot(rec)

    async def list(self, owner: str | None) -> list[BotRow]:
        rows = await self.pool.fetch(
            "SELECT * FROM bots WHERE ($1::text IS NULL OR owner = $1) ORDER BY created_at, id",
            owner)
        return [_bot(r) for r in rows]

    async def active(self, *, account_id: str | None = None) -> list[BotRow]:
        """Bots the runner should hold: running or paused (a paused bot still manages exits);
        of one account when given."""
        rows = await self.pool.fetch(
            "SELECT * FROM bots WHERE status IN ('running', 'paused')"
            " AND ($1::text IS NULL OR account_id = $1) ORDER BY id", account_id)
        return [_bot(r) for r in rows]

    async def scheduled(self) -> list[BotRow]:
        """Bots with a schedule, whatever their status (the runner starts and stops them)."""
        rows = await self.pool.fetch(
            "SELECT * FROM bots WHERE schedule IS NOT NULL ORDER BY id")
        return [_bot(r) for r in rows]

    async def set_schedule(self, bot_id: str, schedule: dict[str, str] | None, actor: str, *,
                           owner: str | None = None) -> BotRow:
        """Replace (or with None remove) the bot's schedule, audited."""
        async with self.pool.acquire() as conn, conn.transaction():
            rec = await conn.fetchrow(
                "UPDATE bots SET schedule = $2::jsonb, updated_at = now() WHERE id = $1"
                " AND ($3::text IS NULL OR owner = $3) RETURNING *",
                bot_id, None if schedule is None else json.dumps(schedule), owner)
            if rec is None:
                raise NotFound(f"no bot {bot_id}", field="id")
            await self._audit(conn, bot_id, actor, "schedule",
                              "removed" if schedule is None else json.dumps(schedule))
        return _bot(rec)

    async def last_status_actor(self, bot_id: str) -> str:
        """Who made the bot's latest status change ("" when none is recorded)."""
        actor = await self.pool.fetchval(
            "SELECT actor FROM bot_audit WHERE bot_id = $1 AND action = ANY($2::text[])"
            " ORDER BY id DESC LIMIT 1", bot_id, list(STATUSES))
        return actor or ""

    async def delete(self, bot_id: str, *, owner: str | None = None) -> None:
        status = await self.pool.execute(
            "DELETE FROM bots WHERE id = $1 AND ($2::text IS NULL OR owner = $2)"
            " AND status NOT IN ('running', 'paused')", bot_id, owner)
        if status.endswith(" 0"):
            row = await self.get(bot_id, owner=owner)  # NotFound when absent
            raise PreconditionFailed(f"bot {bot_id} is {row.status}; stop it before deleting",
                                     field="id")

    async def set_status(self, bot_id: str, status: str, actor: str, *, detail: str = "",
                         owner: str | None = None,
                         only_from: tuple[str, ...] | None = None,
                         schedule_day: date | None = None) -> BotRow:
        """Move a bot to `status` (audited); PreconditionFailed when its current status does
        not allow it (e.g. pausing a stopped bot) or is not one of `only_from` when given.
        `schedule_day`: the schedule starting the bot on that IST day — refused
        (PreconditionFailed) when it already did, so replicas racing start it once."""
        allowed = only_from or TRANSITIONS.get(status, STATUSES)
        async with self.pool.acquire() as conn, conn.transaction():
            rec = await conn.fetchrow(
                "UPDATE bots SET status = $2, error = CASE WHEN $2 = 'error' THEN $3 ELSE '' END,"
                " schedule_day = COALESCE($6, schedule_day), updated_at = now()"
                " WHERE id = $1 AND ($4::text IS NULL OR owner = $4)"
                " AND status = ANY($5::text[])"
                " AND ($6::date IS NULL OR schedule_day IS DISTINCT FROM $6) RETURNING *",
                bot_id, status, detail, owner, list(allowed), schedule_day)
            if rec is None:
                cur = await conn.fetchrow("SELECT status, owner FROM bots WHERE id = $1", bot_id)
                if cur is None or (owner is not None and cur["owner"] != owner):
                    raise NotFound(f"no bot {bot_id}", field="id")
                raise PreconditionFailed(f"bot {bot_id} is {cur['status']}; it cannot be "
                                         f"{status}", field="id")
            await self._audit(conn, bot_id, actor, status, detail)
            await insert_log(
                conn, bot_id, "error" if status == "error" else "info", "status",
                f"{status} by {actor}" + (f": {detail}" if detail else ""),
                {"status": status, "actor": actor, "detail": detail})
        row = _bot(rec)
        kind = NOTIFY_KIND.get(status)
        if kind is not None and self.notify is not None:
            data = {"bot_id": row.id, "name": row.name, "account_id": row.account_id,
                    "actor": actor}
            if status == "error":
                data["error"] = detail
            elif status == "stopped" and detail:
                data["reason"] = detail
            try:
                self.notify(kind, data)
            except Exception:  # a notification must never fail the status change
                log.exception("publishing %s for bot %s failed", kind, row.id)
        return row

    async def save_bar(self, bot_id: str, state: dict[str, Any], orders: list[OrderIntent],
                       *, live_bar: bool) -> None:
        """The state after a bar and the orders sent for it, in one transaction — shared with
        the other bots saving at the same moment (services/strategy/group_commit.py)."""
        await self._saves.submit(_Save(bot_id, json.dumps(state), orders, live_bar))

    async def _write_saves(self, batch: list[_Save]) -> None:
        batch = sorted(batch, key=lambda s: s.bot_id)  # one lock order for every writer
        rows = [(s.bot_id, o.client_order_id, datetime.fromtimestamp(o.bar_ts / 1e9, UTC),
                 o.symbol, o.side.value, o.qty, o.tag, o.reason)
                for s in batch for o in s.orders]
        async with self.pool.acquire() as conn, conn.transaction():
            if rows:
                await conn.executemany(
                    "INSERT INTO bot_orders (bot_id, client_order_id, bar_ts, symbol, side,"
                    " quantity, tag, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    " ON CONFLICT DO NOTHING", rows)
            await conn.execute(
                "UPDATE bots b SET state = v.state::jsonb, bars = b.bars + v.bars,"
                " orders = b.orders + v.orders, updated_at = now()"
                " FROM unnest($1::text[], $2::text[], $3::int[], $4::int[])"
                " AS v(id, state, bars, orders) WHERE b.id = v.id",
                [s.bot_id for s in batch], [s.state for s in batch],
                [1 if s.live_bar else 0 for s in batch], [len(s.orders) for s in batch])

    async def record_orders(self, bot_id: str,
                            orders: list[tuple[str, datetime, str, str, int, str, str]]) -> None:
        """Orders about to be sent outside a bar (an external signal's): (client_order_id,
        time, symbol, side, quantity, tag, reason); one already recorded is kept."""
        await self.pool.executemany(
            "INSERT INTO bot_orders (bot_id, client_order_id, bar_ts, symbol, side, quantity,"
            " tag, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            [(bot_id, *o) for o in orders])

    async def order_sent(self, bot_id: str, client_order_id: str, order_id: str,
                         status: str) -> None:
        """Execution's answer to an order (group-committed with the other bots' answers)."""
        await self._acks.submit(_Ack(bot_id, client_order_id, order_id, status))

    async def _write_acks(self, batch: list[_Ack]) -> None:
        # no WAL flush wait: an answer lost with the database's last moments leaves the order
        # recorded-but-unacknowledged, which the bot re-sends on resume and execution answers
        # as a duplicate — so the answer is recorded again
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL synchronous_commit = off")
            await conn.execute(
                "UPDATE bot_orders o SET order_id = v.order_id, status = v.status"
                " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
                " AS v(bot_id, coid, order_id, status)"
                " WHERE o.bot_id = v.bot_id AND o.client_order_id = v.coid",
                [a.bot_id for a in batch], [a.client_order_id for a in batch],
                [a.order_id for a in batch], [a.status for a in batch])

    async def orders(self, bot_id: str, client_order_id: str | None = None
                     ) -> list[BotOrderRow]:
        """The bot's orders (or the one of `client_order_id`), by bar time."""
        rows = await self.pool.fetch(
            "SELECT * FROM bot_orders WHERE bot_id = $1"
            " AND ($2::text IS NULL OR client_order_id = $2) ORDER BY bar_ts, client_order_id",
            bot_id, client_order_id)
        return [BotOrderRow(client_order_id=r["client_order_id"], bar_ts=r["bar_ts"],
                            symbol=r["symbol"], side=r["side"], quantity=r["quantity"],
                            tag=r["tag"], reason=r["reason"], order_id=r["order_id"],
                            status=r["status"], filled_quantity=r["filled_quantity"],
                            average_price_paise=r["average_price_paise"],
                            filled_at=r["filled_at"], gtt_id=r["gtt_id"]) for r in rows]

    async def order_id(self, bot_id: str, client_order_id: str) -> str:
        """Execution's id of an order the bot sent ('' when not acknowledged)."""
        return await self.pool.fetchval(
            "SELECT order_id FROM bot_orders WHERE bot_id = $1 AND client_order_id = $2",
            bot_id, client_order_id) or ""

    async def order_filled(self, bot_id: str, client_order_id: str, status: str, qty: int,
                           avg_paise: int, at: datetime | None) -> None:
        """What execution did with an order: final status and fill."""
        await self.pool.execute(
            "UPDATE bot_orders SET status = $3, filled_quantity = $4,"
            " average_price_paise = $5, filled_at = $6"
            " WHERE bot_id = $1 AND client_order_id = $2",
            bot_id, client_order_id, status, qty, avg_paise, at)

    async def gtt_exit(self, bot_id: str, row: BotOrderRow) -> None:
        """An exit a leg's GTT placed (reason stop | target): recorded once, by its id."""
        await self.pool.execute(
            "INSERT INTO bot_orders (bot_id, client_order_id, bar_ts, symbol, side, quantity,"
            " tag, reason, order_id, status, filled_quantity, average_price_paise, filled_at,"
            " gtt_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)"
            " ON CONFLICT (bot_id, client_order_id) DO UPDATE SET order_id = EXCLUDED.order_id,"
            " status = EXCLUDED.status, filled_quantity = EXCLUDED.filled_quantity,"
            " average_price_paise = EXCLUDED.average_price_paise,"
            " filled_at = EXCLUDED.filled_at",
            bot_id, row.client_order_id, row.bar_ts, row.symbol, row.side, row.quantity,
            row.tag, row.reason, row.order_id, row.status, row.filled_quantity,
            row.average_price_paise, row.filled_at, row.gtt_id)

    async def record(self, bot_id: str, actor: str, action: str, detail: str) -> None:
        """An audit row for something that is not a status change (e.g. entries blocked)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self._audit(conn, bot_id, actor, action, detail)
            await insert_log(conn, bot_id, "warning", action, detail, {"actor": actor})

    async def audit(self, bot_id: str) -> list[tuple[str, str, str]]:
        rows = await self.pool.fetch(
            "SELECT actor, action, detail FROM bot_audit WHERE bot_id = $1 ORDER BY id", bot_id)
        return [(r["actor"], r["action"], r["detail"]) for r in rows]

    @staticmethod
    async def _audit(conn: asyncpg.Connection, bot_id: str, actor: str, action: str,
                     detail: str) -> None:
        await conn.execute(
            "INSERT INTO bot_audit (bot_id, actor, action, detail) VALUES ($1, $2, $3, $4)",
            bot_id, actor, action, detail)
