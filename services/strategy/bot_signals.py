"""PostgreSQL access for the signals bots act on (`bot_signals`) and external bots' keys
(`bot_keys`).

A strategy bot's signals are the orders its strategy asked for on a bar, recorded after they
were sent with what execution answered (`record_sent`); an external bot's are the signals
posted to it (services/strategy/bot_external.py). Each row says whether the signal became an
order or why not. Not recorded yet: intents the bar driver itself drops before any order
(paused, past the MIS cut-off, a leg already open) — that needs a hook in bot_engine.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.strategy import metrics
from services.strategy.bot_engine import OrderIntent
from services.strategy.bot_logs import insert_log, page_limit
from services.strategy.bot_store import BotOrderRow

log = logging.getLogger(__name__)

KEY_PREFIX = "mbk_"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class SignalRow:
    bot_id: str
    signal_id: str
    source: str
    ts: datetime
    symbol: str
    side: str
    quantity: int
    outcome: str
    reason: str = ""
    detail: str = ""
    client_order_id: str = ""
    order_id: str = ""
    target_weight: Decimal | None = None
    price_paise: int = 0
    body_hash: str = ""
    latency_us: int = 0
    seq: int = 0
    created_at: datetime | None = None


COLUMNS = ("bot_id", "signal_id", "source", "ts", "symbol", "side", "quantity", "outcome",
           "reason", "detail", "client_order_id", "order_id", "target_weight", "price_paise",
           "body_hash", "latency_us")
INSERT = (f"INSERT INTO bot_signals ({', '.join(COLUMNS)}) VALUES "
          f"({', '.join(f'${i + 1}' for i in range(len(COLUMNS)))})"
          " ON CONFLICT (bot_id, signal_id) DO NOTHING RETURNING *")


def _row(r: asyncpg.Record) -> SignalRow:
    return SignalRow(**{c: r[c] for c in COLUMNS}, seq=r["seq"], created_at=r["created_at"])


def _values(s: SignalRow) -> tuple[Any, ...]:
    return tuple(getattr(s, c) for c in COLUMNS)


def outcome_of(o: BotOrderRow) -> tuple[str, str]:
    """(outcome, detail) of a sent order from its bot_orders row."""
    head, _, rest = o.status.partition(": ")
    if head == "REFUSED":  # by execution (risk, validation): BotTask._place's words
        return "refused", rest
    if head.endswith("REJECTED"):  # by the broker: "ORDER_STATUS_REJECTED: <message>"
        return "rejected", rest
    if o.order_id:
        return "order", ""
    return "refused", o.status or "not acknowledged"


class SignalStore:
    def __init__(self, db: Any) -> None:
        self.db = db  # anything with a `pool` (the BotStore: its pool is set at start-up)

    @property
    def _pool(self) -> asyncpg.Pool:
        return self.db.pool

    async def insert(self, s: SignalRow, *, conn: Any = None) -> SignalRow | None:
        """The stored row, or None when (bot, signal_id) is already recorded."""
        rec = await (conn or self._pool).fetchrow(INSERT, *_values(s))
        if rec is not None:
            metrics.BOT_SIGNALS.labels(s.source, s.outcome).inc()
        return None if rec is None else _row(rec)

    async def get(self, bot_id: str, signal_id: str) -> SignalRow | None:
        rec = await self._pool.fetchrow(
            "SELECT * FROM bot_signals WHERE bot_id = $1 AND signal_id = $2", bot_id, signal_id)
        return None if rec is None else _row(rec)

    async def list(self, bot_id: str, *, before_seq: int = 0, limit: int = 0) -> list[SignalRow]:
        """Newest first."""
        rows = await self._pool.fetch(
            "SELECT * FROM bot_signals WHERE bot_id = $1 AND ($2::bigint = 0 OR seq < $2)"
            " ORDER BY seq DESC LIMIT $3", bot_id, before_seq, page_limit(limit))
        return [_row(r) for r in rows]

    async def after(self, bot_id: str, seq: int, limit: int = 500) -> list[SignalRow]:
        """Oldest first: what a stream has not sent yet."""
        rows = await self._pool.fetch(
            "SELECT * FROM bot_signals WHERE bot_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            bot_id, seq, limit)
        return [_row(r) for r in rows]

    async def record_sent(self, bot_id: str, orders: list[OrderIntent],
                          latency_s: dict[str, float]) -> list[SignalRow]:
        """A strategy bar's orders after sending: one signal and one log record each, with
        what execution answered (read back from bot_orders). Never raises: the orders are
        sent and recorded in bot_orders already; a failure here is logged, not the bot's."""
        try:
            return await self._record_sent(bot_id, orders, latency_s)
        except Exception as exc:
            log.warning("bot %s: recording %d signals failed: %s: %s", bot_id, len(orders),
                        type(exc).__name__, exc)
            return []

    async def _record_sent(self, bot_id: str, orders: list[OrderIntent],
                           latency_s: dict[str, float]) -> list[SignalRow]:
        async with self._pool.acquire() as conn, conn.transaction():
            sent = {r["client_order_id"]: r for r in await conn.fetch(
                "SELECT * FROM bot_orders WHERE bot_id = $1 AND client_order_id = ANY($2)",
                bot_id, [o.client_order_id for o in orders])}
            out = []
            for o in orders:
                rec = sent.get(o.client_order_id)
                row = BotOrderRow(**{k: rec[k] for k in BotOrderRow.__dataclass_fields__}) \
                    if rec is not None else None
                outcome, detail = outcome_of(row) if row else ("refused", "not recorded")
                s = SignalRow(
                    bot_id=bot_id, signal_id=o.client_order_id, source="strategy",
                    ts=datetime.fromtimestamp(o.bar_ts / 1e9, UTC), symbol=o.symbol,
                    side=o.side.value, quantity=o.qty, outcome=outcome, reason=o.reason,
                    detail=detail, client_order_id=o.client_order_id,
                    order_id=row.order_id if row else "",
                    latency_us=int(latency_s.get(o.client_order_id, 0.0) * 1e6))
                stored = await self.insert(s, conn=conn)
                if stored is None:
                    continue
                out.append(stored)
                await insert_log(conn, *signal_log(stored))
        return out

    # --- keys ------------------------------------------------------------------------------
    async def set_key(self, bot_id: str, key: str) -> None:
        await self._pool.execute(
            "INSERT INTO bot_keys (bot_id, key_hash) VALUES ($1, $2) ON CONFLICT (bot_id)"
            " DO UPDATE SET key_hash = EXCLUDED.key_hash, rotated_at = now()",
            bot_id, key_hash(key))

    async def key_matches(self, bot_id: str, key: str) -> bool:
        stored = await self._pool.fetchval("SELECT key_hash FROM bot_keys WHERE bot_id = $1",
                                           bot_id)
        # compared in constant time even when the bot has no key
        return hmac.compare_digest(stored or "-" * 64, key_hash(key)) and stored is not None


def signal_log(s: SignalRow) -> tuple[str, str, str, str, dict[str, Any]]:
    """insert_log's arguments for a recorded signal: info when it became an order."""
    size = (f"weight {s.target_weight}" if s.target_weight is not None and not s.quantity
            else str(s.quantity))
    what = f"{s.source} signal {s.signal_id}: {s.side} {size} {s.symbol} ({s.reason})"
    if s.outcome == "order":
        level, msg = "info", f"{what} → order {s.order_id} ({s.client_order_id})"
    elif s.outcome in ("no_change", "paused"):
        level, msg = "info", f"{what} → no order: {s.detail or s.outcome}"
    else:
        level, msg = "warning", f"{what} → {s.outcome}: {s.detail}"
    fields = {"signal_id": s.signal_id, "symbol": s.symbol, "side": s.side,
              "quantity": s.quantity, "outcome": s.outcome, "client_order_id": s.client_order_id,
              "order_id": s.order_id, "latency_us": s.latency_us}
    return (s.bot_id, level, "signal", msg, fields)
