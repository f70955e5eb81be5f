"""Applying what the broker reports: order snapshots → state machine, fills → ledger, entry
fills → OCO GTTs, GTT-placed orders → adopted exit orders.

`sync_account` is one polling pass (Kite's WebSocket postbacks feed `apply_update` directly when
available; polling is the fallback that also heals any missed push). Every step is idempotent:
fills by broker trade id, transitions only forward, GTT creation by a unique row per entry.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from mandi.platform.bounded import drop_oldest
from services.execution import gtt as gtt_mod
from services.execution import loss_limit
from services.execution.accounts import Account
from services.execution.brokers.base import Broker, BrokerOrder
from services.execution.external import adopt_external, is_external_row, is_squareoff_row
from services.execution.ledger import Fill, record_fill
from services.execution.orders import (
    CANCELLED,
    COMPLETE,
    OrderRepo,
    fold_broker_status,
    next_status,
)

log = logging.getLogger(__name__)


def exit_reason_of(row: Any) -> str:
    purpose = row["purpose"]
    if is_external_row(row):
        return "auto_squareoff" if is_squareoff_row(row) else "external"
    if purpose == "gtt":
        role = row["client_order_id"].rsplit(":", 1)[-1]
        return {"sl": "stop_loss", "tp": "target"}.get(role, "gtt")
    return {"squareoff": "emergency_stop", "exit": "exit", "adopted": "broker",
            "loss_limit": "auto_loss_limit"}.get(purpose, "signal")


MTM_INTERVAL_S = 3.0
_SEEN_MAX = 50_000


async def sync_account(engine: Any, account: Account) -> int:
    """Poll the broker once and apply every order that changed. Returns updates applied.

    Orders whose (status, filled) snapshot was already applied are skipped without a query;
    the broker's GTT list is fetched at most once per pass."""
    broker = engine.brokers.get(account)
    step = getattr(broker, "step", None)
    if step is not None:  # paper: match resting orders and GTTs against fresh quotes first
        await step()
    applied = 0
    gtts = gtt_mod.BrokerGtts(broker)
    seen = engine.seen_orders
    drop_oldest(seen, _SEEN_MAX)  # earlier days' orders first: today's stay skipped
    aid = account.account_id
    for bo in await broker.orders():
        if seen.get(_seen_key(aid, bo)) == (bo.status, bo.filled_quantity):
            continue
        result = await apply_update(engine, account, broker, bo, gtts=gtts)
        if result:
            applied += 1
    await mark_to_market(engine, account, broker)
    await gtt_mod.refresh_statuses(engine, account, broker, gtts=gtts)
    return applied


async def mark_to_market(engine: Any, account: Account, broker: Broker, *,
                         force: bool = False) -> None:
    """Refresh last prices of open positions (unrealized P&L) and of trailing GTTs, with one
    batched quote call every MTM_INTERVAL_S (Kite allows one quote request a second)."""
    aid = account.account_id
    loop_now = time.monotonic()
    if not force and loop_now - engine.mtm_at.get(aid, 0.0) < engine.mtm_interval_s:
        return
    engine.mtm_at[aid] = loop_now
    rows = await engine.pool.fetch(
        "SELECT DISTINCT exchange, tradingsymbol FROM positions WHERE account_id = $1"
        " AND status = 'open' UNION SELECT exchange, tradingsymbol FROM gtts"
        " WHERE account_id = $1 AND status = 'active' AND trailing_stop_pct > 0", aid)
    keys = [f"{r['exchange']}:{r['tradingsymbol']}" for r in rows][:500]
    if not keys:
        return
    quotes = await broker.quotes(keys)
    prices = {k: q.last_paise for k, q in quotes.items() if q.last_paise}
    engine.remember_prices(prices)
    if prices:
        await engine.pool.execute(
            "UPDATE positions p SET last_price_paise = v.price"
            " FROM unnest($2::text[], $3::bigint[]) AS v(key, price)"
            " WHERE p.account_id = $1 AND p.status = 'open'"
            " AND p.exchange || ':' || p.tradingsymbol = v.key",
            aid, list(prices), list(prices.values()))
        await loss_limit.enforce(engine, account, engine.clock.now())  # open losses count


def _seen_key(account_id: str, bo: BrokerOrder) -> tuple[str, str]:
    # the tag too: a broker id alone may name another (older) order after a broker restart
    return account_id, f"{bo.broker_order_id}|{bo.tag}|{bo.tradingsymbol}|{bo.side}"


def _seen(engine: Any, account_id: str, bo: BrokerOrder) -> None:
    """Remember a snapshot as fully applied (the poll loop skips it until it changes)."""
    engine.seen_orders[_seen_key(account_id, bo)] = (bo.status, bo.filled_quantity)


async def find_ours(pool: Any, account_id: str, bo: BrokerOrder) -> Any:
    """Our order row for a broker order, never on the broker order id alone (security review
    S5: a restarted broker can reuse an id an older order holds). A tagged broker order is ours
    only by its tag (the id must agree once we know it); an untagged one only if a row we
    adopted from the broker (GTT leg, external order) has its id and the same instrument/side —
    the newest such row, so an earlier day's order is never the one updated."""
    if bo.tag:
        row = await OrderRepo.by_tag(pool, account_id, bo.tag)
        if row is not None and row["broker_order_id"] in (None, bo.broker_order_id):
            return row
        return None
    return await pool.fetchrow(
        "SELECT * FROM orders WHERE account_id = $1 AND broker_order_id = $2"
        " AND purpose IN ('gtt', 'adopted') AND ($3 = '' OR tradingsymbol = $3)"
        " AND ($4 = '' OR side = $4) ORDER BY created_at DESC LIMIT 1",
        account_id, bo.broker_order_id, bo.tradingsymbol, bo.side)


async def apply_update(engine: Any, account: Account, broker: Broker, bo: BrokerOrder, *,
                       gtts: Any = None) -> bool | None:
    """Apply one broker order snapshot. None: not an order of ours; False: nothing new;
    True: something changed."""
    pool = engine.pool
    aid = account.account_id
    row = await find_ours(pool, aid, bo)
    if row is None and not bo.tag:
        row = await gtt_mod.adopt_triggered_order(engine, account, broker, bo, gtts=gtts)
        if row is None:
            row = await adopt_external(engine, account, bo)
    if row is None:
        return None
    folded = fold_broker_status(bo.status, bo.filled_quantity, row["quantity"])
    target = next_status(row["status"], folded)
    # Compare with the fills actually booked, not the order row: a broker that reports the
    # filled quantity before its trade list catches up must be asked again next pass.
    booked = await pool.fetchval(
        "SELECT coalesce(sum(quantity), 0) FROM fills WHERE account_id = $1 AND order_id = $2",
        aid, row["order_id"])
    more_filled = bo.filled_quantity > booked
    if target is None and not more_filled and row["broker_order_id"] and \
            bo.filled_quantity == row["filled_quantity"]:
        _seen(engine, aid, bo)
        return False
    trades = await broker.order_trades(bo.broker_order_id) if more_filled else []
    if sum(t.quantity for t in trades) >= bo.filled_quantity:
        _seen(engine, aid, bo)
    inst = await engine.instrument(account, row["exchange"], row["tradingsymbol"])
    now = engine.clock.now()
    closed: list[Any] = []
    last_fill_ts = now
    async with pool.acquire() as conn, conn.transaction():
        row = await OrderRepo.get(conn, aid, row["order_id"], lock=True)
        target = next_status(row["status"], folded)
        if target is not None or bo.filled_quantity != row["filled_quantity"] \
                or not row["broker_order_id"]:
            await OrderRepo.transition(
                conn, row, target or row["status"], now=now, broker_status=bo.status,
                filled=max(bo.filled_quantity, row["filled_quantity"]),
                avg=bo.average_price_paise or row["average_price_paise"],
                message=bo.status_message, broker_order_id=bo.broker_order_id)
        for t in trades:
            fill = Fill(t.broker_trade_id, row["order_id"], t.exchange or row["exchange"],
                        t.tradingsymbol or row["tradingsymbol"], t.product or row["product"],
                        t.side or row["side"], t.quantity, t.price_paise, t.ts or now)
            result = await record_fill(conn, aid, fill, inst, exit_reason=exit_reason_of(row),
                                       strategy_id=row["strategy_id"],
                                       source="paper" if account.broker == "paper" else "live")
            if result:
                closed.extend(result)
                last_fill_ts = fill.ts
                if is_external_row(row):
                    await conn.execute(
                        "UPDATE trades SET external = true WHERE account_id = $1"
                        " AND trade_id = ANY($2::text[])", aid, [c.trade_id for c in result])
    if closed:
        await _check_daily_loss(engine, account, last_fill_ts)
    await engine.events.publish(aid, row["order_id"], target or row["status"],
                                broker_status=bo.status, filled=bo.filled_quantity,
                                avg=bo.average_price_paise, message=bo.status_message)
    if target is not None:
        engine.events.notify_order(row, target, filled=bo.filled_quantity,
                                   avg=bo.average_price_paise or row["average_price_paise"],
                                   message=bo.status_message)
    if row["parent_order_id"]:
        await engine.refresh_parent(aid, row["parent_order_id"])
    filled_now = max(bo.filled_quantity, row["filled_quantity"])
    if target in (COMPLETE, CANCELLED) and filled_now and row["purpose"] == "entry" and \
            (row["stop_loss_paise"] or row["target_paise"] or row["stop_loss_pct"]
             or row["target_pct"]):  # a partial fill is protected too
        await gtt_mod.protect_entry(engine, account, broker, row["order_id"])
    if closed or target == COMPLETE:
        await gtt_mod.settle_after_exit(engine, account, broker, row)
    return True


async def _check_daily_loss(engine: Any, account: Account, now: Any) -> None:
    """After a booked round trip: block the rest of the day once realized net P&L plus the open
    mark-to-market loss reaches −limit (audited once), squaring off if the account says so."""
    await loss_limit.enforce(engine, account, now)
