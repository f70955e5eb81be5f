"""PostgreSQL access for bots: their definition, status, per-bar state, audit and sent orders.

Status changes are single UPDATEs with the allowed previous statuses in the WHERE clause, so a
stop racing a start leaves one consistent answer, and every change writes its audit row in the
same transaction. The runner saves a bar's state and the orders it sent for the bar together.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from mandi.core.errors import AlreadyExists, NotFound, PreconditionFailed
from services.strategy.bot_engine import OrderIntent

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


def _bot(row: asyncpg.Record) -> BotRow:
    return BotRow(id=row["id"], owner=row["owner"], name=row["name"], spec=bytes(row["spec"]),
                  account_id=row["account_id"], mode=row["mode"], product=row["product"],
                  status=row["status"], error=row["error"], state=json.loads(row["state"]),
                  bars=row["bars"], orders=row["orders"], created_at=row["created_at"],
                  updated_at=row["updated_at"])


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


class BotStore:
    def __init__(self, pool: asyncpg.Pool,
                 notify: Callable[[str, dict[str, Any]], Any] | None = None) -> None:
        self.pool = pool
        # called (fire and forget) after a status change commits; wired to publish_event
        self.notify = notify

    async def create(self, row: BotRow, actor: str) -> BotRow:
        async with self.pool.acquire() as conn, conn.transaction():
            try:
                rec = await conn.fetchrow(
                    "INSERT INTO bots (id, owner, name, spec, account_id, mode, product)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
                    row.id, row.owner, row.name, row.spec, row.account_id, row.mode,
                    row.product)
            except asyncpg.UniqueViolationError:
                raise AlreadyExists(f"a bot named {row.name!r} already exists",
                                    field="name") from None
            await self._audit(conn, row.id, actor, "create", "")
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
                         only_from: tuple[str, ...] | None = None) -> BotRow:
        """Move a bot to `status` (audited); PreconditionFailed when its current status does
        not allow it (e.g. pausing a stopped bot) or is not one of `only_from` when given."""
        allowed = only_from or TRANSITIONS.get(status, STATUSES)
        async with self.pool.acquire() as conn, conn.transaction():
            rec = await conn.fetchrow(
                "UPDATE bots SET status = $2, error = CASE WHEN $2 = 'error' THEN $3 ELSE '' END,"
                " updated_at = now() WHERE id = $1 AND ($4::text IS NULL OR owner = $4)"
                " AND status = ANY($5::text[]) RETURNING *",
                bot_id, status, detail, owner, list(allowed))
            if rec is None:
                cur = await conn.fetchrow("SELECT status, owner FROM bots WHERE id = $1", bot_id)
                if cur is None or (owner is not None and cur["owner"] != owner):
                    raise NotFound(f"no bot {bot_id}", field="id")
                raise PreconditionFailed(f"bot {bot_id} is {cur['status']}; it cannot be "
                                         f"{status}", field="id")
            await self._audit(conn, bot_id, actor, status, detail)
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
        """The state after a bar and the orders sent for it, in one transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            if orders:
                await conn.executemany(
                    "INSERT INTO bot_orders (bot_id, client_order_id, bar_ts, symbol, side,"
                    " quantity, tag, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    " ON CONFLICT DO NOTHING",
                    [(bot_id, o.client_order_id,
                      datetime.fromtimestamp(o.bar_ts / 1e9, UTC), o.symbol, o.side.value,
                      o.qty, o.tag, o.reason) for o in orders])
            await conn.execute(
                "UPDATE bots SET state = $2::jsonb, bars = bars + $3, orders = orders + $4,"
                " updated_at = now() WHERE id = $1",
                bot_id, json.dumps(state), 1 if live_bar else 0, len(orders))

    async def order_sent(self, bot_id: str, client_order_id: str, order_id: str,
                         status: str) -> None:
        await self.pool.execute(
            "UPDATE bot_orders SET order_id = $3, status = $4"
            " WHERE bot_id = $1 AND client_order_id = $2", bot_id, client_order_id, order_id,
            status)

    async def orders(self, bot_id: str) -> list[BotOrderRow]:
        rows = await self.pool.fetch(
            "SELECT * FROM bot_orders WHERE bot_id = $1 ORDER BY bar_ts, client_order_id",
            bot_id)
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
        async with self.pool.acquire() as conn:
            await self._audit(conn, bot_id, actor, action, detail)

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
