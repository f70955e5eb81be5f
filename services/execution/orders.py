"""Orders: the request shape, static validation, the status state machine and the order rows.

The state machine is Mandi's, not the broker's: broker statuses (Kite vocabulary) are folded
into seven states, and a transition is applied only if it moves forward — a stale poll saying
OPEN after we stored COMPLETE is ignored, never a step back. Every applied transition writes one
`order_events` row in the same transaction as the order update.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from mandi.core.errors import InvalidInput, NotFound
from services.execution import metrics

PENDING, OPEN, TRIGGER_PENDING, PARTIALLY_FILLED = "PENDING", "OPEN", "TRIGGER_PENDING", \
    "PARTIALLY_FILLED"
COMPLETE, CANCELLED, REJECTED = "COMPLETE", "CANCELLED", "REJECTED"
STATUSES = (PENDING, OPEN, TRIGGER_PENDING, PARTIALLY_FILLED, COMPLETE, CANCELLED, REJECTED)
TERMINAL = frozenset({COMPLETE, CANCELLED, REJECTED})
WORKING = (PENDING, OPEN, TRIGGER_PENDING, PARTIALLY_FILLED)

# How far along an order is; a transition must not go to a lower rank (terminal = top).
_RANK = {PENDING: 0, OPEN: 1, TRIGGER_PENDING: 1, PARTIALLY_FILLED: 2, COMPLETE: 3,
         CANCELLED: 3, REJECTED: 3}

ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
PRODUCTS = ("CNC", "MIS", "NRML")
SIDES = ("BUY", "SELL")
VARIETIES = ("regular", "amo")
VALIDITIES = ("DAY", "IOC", "TTL")
PURPOSES = ("entry", "exit", "gtt", "squareoff", "adopted", "loss_limit")
MAX_TTL_MINUTES = 375          # a TTL order lives at most one session (09:15-15:30)


def fold_broker_status(broker_status: str, filled: int, quantity: int) -> str | None:
    """Mandi status for a broker status, or None for transient states that change nothing."""
    s = broker_status.upper()
    if s == "COMPLETE":
        return COMPLETE
    if s in ("CANCELLED", "CANCELLED AMO"):
        return CANCELLED
    if s == "REJECTED":
        return REJECTED
    if s == "TRIGGER PENDING":
        return TRIGGER_PENDING
    if s in ("OPEN", "AMO REQ RECEIVED", "MODIFIED", "UPDATE"):
        return PARTIALLY_FILLED if 0 < filled < quantity else OPEN
    return None


def next_status(current: str, folded: str | None) -> str | None:
    """The status to move to, or None when `folded` is not a forward move from `current`."""
    if folded is None or current in TERMINAL:
        return None
    if folded == current:
        return None
    if _RANK[folded] < _RANK[current]:
        return None
    return folded


def tag_for(client_order_id: str) -> str:
    """Kite's `tag` (≤ 20 alphanumerics) carrying the idempotency key to the broker.

    A short alphanumeric id travels as is; anything else as 'M' + 19 hex chars of its sha256,
    so the same client_order_id always yields the same tag (reconciliation finds it by tag).
    """
    if client_order_id.isalnum() and client_order_id.isascii() and len(client_order_id) <= 20:
        return client_order_id
    return "M" + hashlib.sha256(client_order_id.encode()).hexdigest()[:19]


@dataclass(frozen=True)
class OrderSpec:
    client_order_id: str
    exchange: str
    tradingsymbol: str
    side: str
    quantity: int
    order_type: str
    product: str
    price_paise: int = 0
    trigger_price_paise: int = 0
    variety: str = "regular"
    validity: str = "DAY"
    allow_duplicate: bool = False
    stop_loss_paise: int = 0
    target_paise: int = 0
    trailing_stop_pct: float = 0.0
    strategy_id: str = ""
    purpose: str = "entry"
    market_protection: float = 0.0   # Kite's percent; -1 = Kite's auto; 0 = Mandi's default
    validity_ttl: int = 0            # minutes, with validity TTL
    disclosed_quantity: int = 0
    stop_loss_pct: float = 0.0       # the GTT's levels as % of the fill price (instead of paise)
    target_pct: float = 0.0


def validate_spec(spec: OrderSpec) -> OrderSpec:
    """Checks that need no market data: shape, signs, required prices. Raises InvalidInput."""
    coid = spec.client_order_id
    if not coid or len(coid) > 64 or not coid.isprintable():
        raise InvalidInput("client_order_id must be 1-64 printable characters",
                           field="client_order_id")
    if spec.side not in SIDES:
        raise InvalidInput("side must be BUY or SELL", field="side")
    if isinstance(spec.quantity, bool) or spec.quantity <= 0:
        raise InvalidInput(f"quantity must be a positive integer, got {spec.quantity}",
                           field="quantity")
    if spec.order_type not in ORDER_TYPES:
        raise InvalidInput(f"order_type must be one of {ORDER_TYPES}", field="order_type")
    if spec.product not in PRODUCTS:
        raise InvalidInput(f"product must be one of {PRODUCTS}", field="product")
    if spec.variety not in VARIETIES:
        raise InvalidInput(f"variety must be one of {VARIETIES}", field="variety")
    if spec.validity not in VALIDITIES:
        raise InvalidInput(f"validity must be one of {VALIDITIES}", field="validity")
    _check_kite_fields(spec)
    if spec.order_type in ("LIMIT", "SL") and spec.price_paise <= 0:
        raise InvalidInput(f"a {spec.order_type} order needs a price > 0", field="price")
    if spec.order_type in ("MARKET", "SL-M") and spec.price_paise != 0:
        raise InvalidInput(f"a {spec.order_type} order takes no price", field="price")
    if spec.order_type in ("SL", "SL-M") and spec.trigger_price_paise <= 0:
        raise InvalidInput(f"a {spec.order_type} order needs a trigger price > 0",
                           field="trigger_price")
    if spec.order_type in ("MARKET", "LIMIT") and spec.trigger_price_paise != 0:
        raise InvalidInput(f"a {spec.order_type} order takes no trigger price",
                           field="trigger_price")
    for name in ("stop_loss_paise", "target_paise"):
        if getattr(spec, name) < 0:
            raise InvalidInput(f"{name} must be >= 0", field=name.removesuffix("_paise"))
    for name in ("stop_loss_pct", "target_pct"):
        if not 0 <= getattr(spec, name) < 100:
            raise InvalidInput(f"{name} must be in [0, 100)", field=name)
    for pct, paise in (("stop_loss_pct", "stop_loss_paise"), ("target_pct", "target_paise")):
        if getattr(spec, pct) and getattr(spec, paise):
            raise InvalidInput("give a stop or target as a price or as a percent, not both",
                               field=pct)
    if not 0 <= spec.trailing_stop_pct < 50:
        raise InvalidInput("trailing_stop_pct must be in [0, 50)", field="trailing_stop_pct")
    if spec.trailing_stop_pct and not (spec.stop_loss_paise or spec.stop_loss_pct):
        raise InvalidInput("a trailing stop needs a stop_loss", field="trailing_stop_pct")
    ref = spec.price_paise or spec.trigger_price_paise
    if ref and spec.stop_loss_paise and spec.target_paise:
        low, high = ((spec.stop_loss_paise, spec.target_paise) if spec.side == "BUY"
                     else (spec.target_paise, spec.stop_loss_paise))
        if not low < ref < high:
            raise InvalidInput("stop_loss and target must be on opposite sides of the price "
                               "(below/above for a buy, above/below for a sell)",
                               field="stop_loss")
    return spec


def _check_kite_fields(spec: OrderSpec) -> None:
    """validity_ttl, market_protection and disclosed_quantity as Kite takes them."""
    if spec.validity == "TTL" and not 1 <= spec.validity_ttl <= MAX_TTL_MINUTES:
        raise InvalidInput(f"validity TTL needs validity_ttl of 1-{MAX_TTL_MINUTES} minutes",
                           field="validity_ttl")
    if spec.validity != "TTL" and spec.validity_ttl:
        raise InvalidInput("validity_ttl is only for validity TTL", field="validity_ttl")
    mp = spec.market_protection
    if not (mp in (0, -1) or 0 < mp <= 100):
        raise InvalidInput("market_protection is -1 (Kite's automatic) or a percent in (0, 100]",
                           field="market_protection")
    if mp and spec.order_type not in ("MARKET", "SL-M"):
        raise InvalidInput("market_protection applies to MARKET and SL-M orders only",
                           field="market_protection")
    dq = spec.disclosed_quantity
    if dq < 0 or dq > spec.quantity:
        raise InvalidInput("disclosed_quantity must be between 0 and the quantity",
                           field="disclosed_quantity")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class OrderRepo:
    """SQL for orders and order_events. Every statement filters on account_id."""

    @staticmethod
    async def insert_row(conn: Any, account_id: str, spec: OrderSpec, *, now: datetime,
                         parent_order_id: str | None = None, status: str = PENDING,
                         gtt_id: str | None = None, broker_order_id: str | None = None,
                         message: str = "") -> Any:
        """Insert an order and its first event in one statement; None if (account,
        client_order_id) already exists (the idempotency key)."""
        row = await conn.fetchrow(
            """WITH o AS (
                 INSERT INTO orders (order_id, account_id, client_order_id, tag, parent_order_id,
                   exchange, tradingsymbol, side, quantity, order_type, price_paise,
                   trigger_price_paise, product, variety, validity, status, stop_loss_paise,
                   target_paise, trailing_stop_pct, strategy_id, purpose, gtt_id,
                   broker_order_id, status_message, created_at, updated_at, market_protection,
                   validity_ttl, disclosed_quantity, stop_loss_pct, target_pct)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,
                   $21,$22,$23,$24,$25,$25,$27,$28,$29,$30,$31)
                 ON CONFLICT DO NOTHING RETURNING *),
               e AS (
                 INSERT INTO order_events (order_id, account_id, status, message, ts)
                 SELECT order_id, account_id, status, $26, created_at FROM o)
               SELECT * FROM o""",
            new_id("ord"), account_id, spec.client_order_id, tag_for(spec.client_order_id),
            parent_order_id, spec.exchange, spec.tradingsymbol, spec.side, spec.quantity,
            spec.order_type, spec.price_paise, spec.trigger_price_paise, spec.product,
            spec.variety, spec.validity, status, spec.stop_loss_paise, spec.target_paise,
            spec.trailing_stop_pct, spec.strategy_id, spec.purpose, gtt_id, broker_order_id,
            message, now, message or "accepted", spec.market_protection, spec.validity_ttl,
            spec.disclosed_quantity, spec.stop_loss_pct, spec.target_pct)
        if row is not None:
            metrics.order_status(status)
        return row

    @staticmethod
    async def insert(conn: Any, account_id: str, spec: OrderSpec, *, now: datetime,
                     **kw: Any) -> str | None:
        row = await OrderRepo.insert_row(conn, account_id, spec, now=now, **kw)
        return None if row is None else row["order_id"]

    @staticmethod
    async def event(conn: asyncpg.Connection, account_id: str, order_id: str, status: str, *,
                    now: datetime, broker_status: str = "", filled: int = 0, avg: int = 0,
                    message: str = "") -> None:
        await conn.execute(
            "INSERT INTO order_events (order_id, account_id, status, broker_status,"
            " filled_quantity, average_price_paise, message, ts)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
            order_id, account_id, status, broker_status, filled, avg, message, now)

    @staticmethod
    async def get(conn: Any, account_id: str, order_id: str, *, lock: bool = False) -> Any:
        row = await conn.fetchrow(
            "SELECT * FROM orders WHERE account_id = $1 AND order_id = $2"
            + (" FOR UPDATE" if lock else ""), account_id, order_id)
        if row is None:
            raise NotFound(f"no order {order_id!r} in account {account_id!r}", field="order_id")
        return row

    @staticmethod
    async def by_client_id(conn: Any, account_id: str, client_order_id: str) -> Any:
        return await conn.fetchrow(
            "SELECT * FROM orders WHERE account_id = $1 AND client_order_id = $2",
            account_id, client_order_id)

    @staticmethod
    async def by_broker_id(conn: Any, account_id: str, broker_order_id: str, *,
                           lock: bool = False) -> Any:
        return await conn.fetchrow(
            "SELECT * FROM orders WHERE account_id = $1 AND broker_order_id = $2"
            + (" FOR UPDATE" if lock else ""), account_id, broker_order_id)

    @staticmethod
    async def by_tag(conn: Any, account_id: str, tag: str, *, lock: bool = False) -> Any:
        return await conn.fetchrow(
            "SELECT * FROM orders WHERE account_id = $1 AND tag = $2"
            + (" FOR UPDATE" if lock else ""), account_id, tag)

    @staticmethod
    async def children(conn: Any, account_id: str, order_id: str) -> list[Any]:
        return await conn.fetch(
            "SELECT * FROM orders WHERE account_id = $1 AND parent_order_id = $2"
            " ORDER BY client_order_id", account_id, order_id)

    @staticmethod
    async def transition(conn: asyncpg.Connection, row: Any, status: str, *, now: datetime,
                         broker_status: str = "", filled: int | None = None,
                         avg: int | None = None, message: str = "",
                         broker_order_id: str | None = None) -> None:
        filled = row["filled_quantity"] if filled is None else filled
        avg = row["average_price_paise"] if avg is None else avg
        await conn.execute(
            "UPDATE orders SET status = $3, broker_status = $4, filled_quantity = $5,"
            " average_price_paise = $6, status_message = $7, updated_at = $8,"
            " broker_order_id = COALESCE($9, broker_order_id)"
            " WHERE account_id = $1 AND order_id = $2",
            row["account_id"], row["order_id"], status, broker_status or row["broker_status"],
            filled, avg, message or row["status_message"], now, broker_order_id)
        await OrderRepo.event(conn, row["account_id"], row["order_id"], status, now=now,
                              broker_status=broker_status, filled=filled, avg=avg,
                              message=message)
        if status != row["status"]:
            metrics.order_status(status)
