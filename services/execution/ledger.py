"""The ledger: fills → positions → closed trades → daily rollups, exact to the paisa.

A position keeps its exact entry value (`cost_paise`) and the entry charges not yet booked. When
a fill reduces it, the closed share of cost and charges is taken proportionally with integer
division and the remainder stays on the position, so after the last close every paisa of cost
and charges has been booked exactly once. Charges come from mandi.core.charges, the same table the
backtester uses. Everything for one fill happens in the caller's transaction.

Charges are those of the fill's scrip-day (account, instrument, product, IST date), priced by
`day_charges` as a contract note prices them: brokerage once per executed order however many
trades fill it (finding B), CNC bought and sold the same day at intraday rates, the DP charge on a
day with a delivery sell. Each fill books the difference it makes to its day's total, so the
day's fills add up to that total to the paisa. A fill's share can be negative: the sell that
turns a CNC buy of the same day into an intraday trade takes back the delivery STT and stamp
the buy was booked with. Fills of one scrip-day are serialised by a transaction advisory lock.
The day's total before a fill is the sum its earlier fills were booked with (they add up to
it by construction), so a fill prices the day once, not twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from mandi.core.charges import Execution, charges, day_charges
from mandi.core.clock import IST, to_ist
from services.execution.instruments import InstrumentInfo
from services.execution.orders import new_id


@dataclass(frozen=True)
class Fill:
    broker_trade_id: str
    order_id: str
    exchange: str
    tradingsymbol: str
    product: str
    side: str
    quantity: int
    price_paise: int
    ts: datetime


@dataclass(frozen=True)
class ClosedTrade:
    trade_id: str
    net_pnl_paise: int
    realized_pnl_paise: int
    charges_paise: int


def fill_charges(fill: Fill, inst: InstrumentInfo) -> int:
    """The charges of this fill as an order of its own (no DP, no same-day netting); the ledger
    books `fill_share_of_day` instead."""
    return charges(inst.charges_segment(fill.product), fill.side, fill.quantity,
                   fill.price_paise, to_ist(fill.ts).date(), inst.charges_exchange).total


async def fill_share_of_day(conn: Any, account_id: str, fill: Fill, inst: InstrumentInfo
                            ) -> int | None:
    """What `fill` adds to its scrip-day's charges (paise, may be negative), or None if this
    broker trade is already booked. Takes the scrip-day's advisory lock for the transaction."""
    day = to_ist(fill.ts).date()
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                       f"fills|{account_id}|{fill.exchange}|{fill.tradingsymbol}|"
                       f"{fill.product}|{day.isoformat()}")
    start, end = _ist_day_bounds(day)
    rows = await conn.fetch(
        "SELECT order_id, side, quantity, price_paise, charges_paise,"
        " broker_trade_id = $7 AS booked, (ts, broker_trade_id) < ($8, $7) AS earlier"
        " FROM fills WHERE account_id = $1 AND exchange = $2 AND tradingsymbol = $3"
        " AND product = $4 AND ts >= $5 AND ts < $6 ORDER BY ts, broker_trade_id",
        account_id, fill.exchange, fill.tradingsymbol, fill.product, start, end,
        fill.broker_trade_id, fill.ts)
    if any(r["booked"] for r in rows):
        return None
    day_fills = [Execution(r["order_id"], r["side"], r["quantity"], r["price_paise"])
                 for r in rows]
    at = sum(1 for r in rows if r["earlier"])  # rows come in (ts, trade id) order
    day_fills.insert(at, Execution(fill.order_id, fill.side, fill.quantity, fill.price_paise))
    total = day_charges(inst.charges_segment(fill.product), day_fills, day,
                        inst.charges_exchange).total
    # what the day's earlier fills were booked with adds up to their day total (each booked
    # its difference), so only the new total is priced
    return total - sum(r["charges_paise"] for r in rows)


def _ist_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=IST)
    return start, start + timedelta(days=1)


async def record_fill(conn: asyncpg.Connection, account_id: str, fill: Fill,
                      inst: InstrumentInfo, *, exit_reason: str = "",
                      strategy_id: str = "", source: str = "live") -> list[ClosedTrade] | None:
    """Apply one broker fill. Returns the trades it closed, or None if it was already applied."""
    fee = await fill_share_of_day(conn, account_id, fill, inst)
    if fee is None:
        return None
    # the order (and a sliced order's parent) keeps the broker's time of its latest fill
    # (Order.filled_at)
    inserted = await conn.fetchval(
        "WITH f AS (INSERT INTO fills (account_id, broker_trade_id, order_id, exchange,"
        " tradingsymbol, product, side, quantity, price_paise, charges_paise, ts)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT DO NOTHING RETURNING 1),"
        " o AS (UPDATE orders SET filled_at = GREATEST(filled_at, $11)"
        " WHERE account_id = $1 AND EXISTS (SELECT 1 FROM f) AND (order_id = $3 OR"
        " order_id = (SELECT parent_order_id FROM orders WHERE account_id = $1"
        " AND order_id = $3)))"
        " SELECT 1 FROM f",
        account_id, fill.broker_trade_id, fill.order_id, fill.exchange, fill.tradingsymbol,
        fill.product, fill.side, fill.quantity, fill.price_paise, fee, fill.ts)
    if inserted is None:
        return None
    return await _apply(conn, account_id, fill, fee, inst, exit_reason, strategy_id, source)


async def _apply(conn: asyncpg.Connection, account_id: str, fill: Fill, fee: int,
                 inst: InstrumentInfo, exit_reason: str, strategy_id: str,
                 source: str) -> list[ClosedTrade]:
    pos = await conn.fetchrow(
        "SELECT * FROM positions WHERE account_id = $1 AND exchange = $2 AND tradingsymbol = $3"
        " AND product = $4 AND status = 'open' FOR UPDATE",
        account_id, fill.exchange, fill.tradingsymbol, fill.product)
    signed = fill.quantity if fill.side == "BUY" else -fill.quantity
    value = fill.quantity * fill.price_paise
    if pos is None:
        await _open(conn, account_id, fill, inst, signed, value, fee, strategy_id)
        return []
    q = pos["quantity"]
    if (q > 0) == (signed > 0):
        cost = pos["cost_paise"] + value
        qty = q + signed
        await conn.execute(
            "UPDATE positions SET quantity = $2, cost_paise = $3, average_price_paise = $4,"
            " entry_charges_paise = entry_charges_paise + $5, updated_at = $6"
            " WHERE position_id = $1",
            pos["position_id"], qty, cost, _avg(cost, abs(qty)), fee, fill.ts)
        return []
    closed_qty = min(fill.quantity, abs(q))
    whole = closed_qty == abs(q)
    entry_cost = pos["cost_paise"] if whole else pos["cost_paise"] * closed_qty // abs(q)
    entry_fee = (pos["entry_charges_paise"] if whole
                 else pos["entry_charges_paise"] * closed_qty // abs(q))
    exit_fee = fee if closed_qty == fill.quantity else fee * closed_qty // fill.quantity
    exit_value = closed_qty * fill.price_paise
    gross = exit_value - entry_cost if q > 0 else entry_cost - exit_value
    total_fee = entry_fee + exit_fee
    trade = ClosedTrade(new_id("trd"), gross - total_fee, gross, total_fee)
    await _insert_trade(conn, account_id, trade, inst, pos, fill, closed_qty, entry_cost,
                        exit_reason, source)
    remaining = abs(q) - closed_qty
    if remaining == 0:
        await conn.execute(
            "UPDATE positions SET quantity = 0, cost_paise = 0, entry_charges_paise = 0,"
            " realized_pnl_paise = realized_pnl_paise + $2, status = 'closed', closed_at = $3,"
            " updated_at = $3, last_price_paise = $4 WHERE position_id = $1",
            pos["position_id"], gross, fill.ts, fill.price_paise)
    else:
        left = pos["cost_paise"] - entry_cost
        await conn.execute(
            "UPDATE positions SET quantity = $2, cost_paise = $3, average_price_paise = $4,"
            " entry_charges_paise = entry_charges_paise - $5,"
            " realized_pnl_paise = realized_pnl_paise + $6, updated_at = $7 WHERE position_id = $1",
            pos["position_id"], remaining if q > 0 else -remaining, left,
            _avg(left, remaining), entry_fee, gross, fill.ts)
    over = fill.quantity - closed_qty
    if over:  # the fill flipped the position: the rest opens a new one the other way
        rest_fee = fee - exit_fee
        await _open(conn, account_id, fill, inst, over if signed > 0 else -over,
                    over * fill.price_paise, rest_fee, strategy_id)
    return [trade]


def _avg(cost: int, qty: int) -> int:
    return (2 * cost + qty) // (2 * qty) if qty else 0  # half-up


async def _open(conn: asyncpg.Connection, account_id: str, fill: Fill, inst: InstrumentInfo,
                signed: int, value: int, fee: int, strategy_id: str) -> None:
    await conn.execute(
        "INSERT INTO positions (position_id, account_id, exchange, tradingsymbol, product,"
        " segment, quantity, average_price_paise, cost_paise, entry_charges_paise,"
        " last_price_paise, strategy_id, opened_at, updated_at)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$13)",
        new_id("pos"), account_id, fill.exchange, fill.tradingsymbol, fill.product, inst.segment,
        signed, _avg(value, abs(signed)), value, fee, fill.price_paise, strategy_id, fill.ts)


async def _insert_trade(conn: asyncpg.Connection, account_id: str, trade: ClosedTrade,
                        inst: InstrumentInfo, pos: Any, fill: Fill, qty: int, entry_cost: int,
                        exit_reason: str, source: str) -> None:
    day = to_ist(fill.ts).date()
    await insert_trade_row(
        conn, account_id, trade_id=trade.trade_id, exchange=fill.exchange,
        tradingsymbol=fill.tradingsymbol, segment=inst.segment,
        side="BUY" if pos["quantity"] > 0 else "SELL", quantity=qty,
        entry_price_paise=_avg(entry_cost, qty), exit_price_paise=fill.price_paise,
        entry_ts=pos["opened_at"], exit_ts=fill.ts, trade_date=day,
        realized=trade.realized_pnl_paise, charges_paise=trade.charges_paise,
        exit_reason=exit_reason, strategy_id=pos["strategy_id"],
        position_id=pos["position_id"], exit_order_id=fill.order_id, source=source)


async def insert_trade_row(conn: asyncpg.Connection, account_id: str, *, trade_id: str,
                           exchange: str, tradingsymbol: str, segment: str, side: str,
                           quantity: int, entry_price_paise: int, exit_price_paise: int,
                           entry_ts: datetime, exit_ts: datetime, trade_date: Any,
                           realized: int, charges_paise: int, exit_reason: str = "",
                           strategy_id: str = "", position_id: str | None = None,
                           exit_order_id: str | None = None, source: str = "live",
                           import_key: str | None = None) -> bool:
    """Insert a closed trade and roll it into daily_pnl and daily_stats. False on a duplicate
    import_key (nothing written)."""
    net = realized - charges_paise
    ok = await conn.fetchval(
        "INSERT INTO trades (trade_id, account_id, exchange, tradingsymbol, segment, side,"
        " quantity, entry_price_paise, exit_price_paise, entry_ts, exit_ts, trade_date,"
        " realized_pnl_paise, charges_paise, net_pnl_paise, exit_reason, strategy_id,"
        " position_id, exit_order_id, source, import_key)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        trade_id, account_id, exchange, tradingsymbol, segment, side, quantity,
        entry_price_paise, exit_price_paise, entry_ts, exit_ts, trade_date, realized,
        charges_paise, net, exit_reason, strategy_id, position_id, exit_order_id, source,
        import_key)
    if ok is None:
        return False
    await conn.execute(
        "INSERT INTO daily_pnl (account_id, trade_date, segment, trades, wins, profit_paise,"
        " loss_paise, net_paise, charges_paise) VALUES ($1,$2,$3,1,$4,$5,$6,$7,$8)"
        " ON CONFLICT (account_id, trade_date, segment) DO UPDATE SET"
        " trades = daily_pnl.trades + 1, wins = daily_pnl.wins + EXCLUDED.wins,"
        " profit_paise = daily_pnl.profit_paise + EXCLUDED.profit_paise,"
        " loss_paise = daily_pnl.loss_paise + EXCLUDED.loss_paise,"
        " net_paise = daily_pnl.net_paise + EXCLUDED.net_paise,"
        " charges_paise = daily_pnl.charges_paise + EXCLUDED.charges_paise",
        account_id, trade_date, segment, 1 if net > 0 else 0, max(net, 0), min(net, 0), net,
        charges_paise)
    await conn.execute(
        "INSERT INTO daily_symbol_pnl (account_id, tradingsymbol, trade_date, segment, trades,"
        " wins, profit_paise, loss_paise, net_paise) VALUES ($1,$2,$3,$4,1,$5,$6,$7,$8)"
        " ON CONFLICT (account_id, tradingsymbol, trade_date, segment) DO UPDATE SET"
        " trades = daily_symbol_pnl.trades + 1, wins = daily_symbol_pnl.wins + EXCLUDED.wins,"
        " profit_paise = daily_symbol_pnl.profit_paise + EXCLUDED.profit_paise,"
        " loss_paise = daily_symbol_pnl.loss_paise + EXCLUDED.loss_paise,"
        " net_paise = daily_symbol_pnl.net_paise + EXCLUDED.net_paise",
        account_id, tradingsymbol, trade_date, segment, 1 if net > 0 else 0, max(net, 0),
        min(net, 0), net)
    await conn.execute(
        "INSERT INTO daily_stats (account_id, date, realized_pnl_paise, trades, updated_at)"
        " VALUES ($1,$2,$3,1,now()) ON CONFLICT (account_id, date) DO UPDATE SET"
        " realized_pnl_paise = daily_stats.realized_pnl_paise + EXCLUDED.realized_pnl_paise,"
        " trades = daily_stats.trades + 1, updated_at = now()",
        account_id, trade_date, net)
    return True


async def audit(conn: Any, account_id: str, actor: str, action: str, now: datetime,
                **detail: Any) -> None:
    await conn.execute(
        "INSERT INTO audit_logs (account_id, ts, actor, action, detail) VALUES ($1,$2,$3,$4,$5)",
        account_id, now, actor, action, json.dumps(detail, default=str))


async def open_positions(conn: Any, account_id: str, *, include_closed: bool = False,
                         limit: int = 500) -> list[Any]:
    return await conn.fetch(
        "SELECT * FROM positions WHERE account_id = $1 AND ($2 OR status = 'open')"
        " ORDER BY opened_at DESC LIMIT $3", account_id, include_closed, limit)


async def position_for(conn: Any, account_id: str, exchange: str, tradingsymbol: str,
                       product: str) -> Any:
    return await conn.fetchrow(
        "SELECT * FROM positions WHERE account_id = $1 AND exchange = $2 AND tradingsymbol = $3"
        " AND product = $4 AND status = 'open'", account_id, exchange, tradingsymbol, product)
