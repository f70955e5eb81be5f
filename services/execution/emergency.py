"""Emergency stop: halt the account first (so nothing new slips in), then cancel every open order,
delete every GTT and square off every position the *broker* reports (it is the truth about what
is at risk). Each step is audited; an admin reset lifts the halt."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from mandi.core.errors import MandiError, PermissionDenied
from services.execution.brokers.base import TERMINAL_BROKER_STATUSES
from services.execution.ledger import audit
from services.execution.orders import OrderSpec
from services.execution.sync import sync_account

log = logging.getLogger(__name__)


@dataclass
class StopResult:
    orders_cancelled: int = 0
    gtts_deleted: int = 0
    positions_squared_off: int = 0
    blocked: bool = True


async def emergency_stop(engine: Any, account_id: str, *, reason: str, actor: str) -> StopResult:
    account, broker = await engine.account(account_id)
    now = engine.clock.now()
    await engine.pool.execute(
        "UPDATE accounts SET emergency_stop = true, emergency_reason = $2 WHERE account_id = $1",
        account_id, reason or "emergency stop")
    await audit(engine.pool, account_id, actor, "emergency_stop", now, reason=reason)
    account, broker = await engine.account(account_id)
    result = StopResult()
    for o in await broker.orders():
        if o.status in TERMINAL_BROKER_STATUSES or o.status == "":
            continue
        try:
            await broker.cancel_order(o.broker_order_id)
            result.orders_cancelled += 1
        except MandiError as exc:
            log.warning("emergency stop: cancel %s failed: %s", o.broker_order_id, exc)
    if broker.capabilities.gtt:
        for g in await broker.gtts():
            if g.status != "active":
                continue
            try:
                await broker.delete_gtt(g.broker_gtt_id)
                result.gtts_deleted += 1
            except MandiError as exc:
                log.warning("emergency stop: delete GTT %s failed: %s", g.broker_gtt_id, exc)
    await engine.pool.execute(
        "UPDATE gtts SET status = 'deleted', updated_at = $2 WHERE account_id = $1"
        " AND status IN ('active', 'creating')", account_id, now)
    await sync_account(engine, account)
    stamp = int(now.timestamp())
    for p in await broker.positions():
        if p.quantity == 0:
            continue
        spec = OrderSpec(
            client_order_id=f"es:{stamp}:{p.exchange}:{p.tradingsymbol}:{p.product}",
            exchange=p.exchange, tradingsymbol=p.tradingsymbol,
            side="SELL" if p.quantity > 0 else "BUY", quantity=abs(p.quantity),
            order_type="MARKET", product=p.product, allow_duplicate=True, purpose="squareoff")
        try:
            await engine.place(account_id, spec, actor=actor, skip_risk=True)
            result.positions_squared_off += 1
        except MandiError as exc:
            log.error("emergency stop: square-off of %s failed: %s", p.tradingsymbol, exc)
            await audit(engine.pool, account_id, actor, "squareoff_failed", engine.clock.now(),
                        symbol=f"{p.exchange}:{p.tradingsymbol}", error=exc.message)
    await sync_account(engine, account)
    await audit(engine.pool, account_id, actor, "emergency_stop_done", engine.clock.now(),
                orders_cancelled=result.orders_cancelled, gtts_deleted=result.gtts_deleted,
                positions_squared_off=result.positions_squared_off)
    return result


async def reset(engine: Any, account_id: str, *, actor: str, is_admin: bool) -> bool:
    if not is_admin:
        raise PermissionDenied("only an admin can reset an emergency stop", field="actor")
    await engine.accounts.get(account_id)
    await engine.pool.execute(
        "UPDATE accounts SET emergency_stop = false, emergency_reason = '' WHERE account_id = $1",
        account_id)
    await audit(engine.pool, account_id, actor, "emergency_stop_reset", engine.clock.now())
    return False
