"""The daily loss limit, enforced after the fact: once the day's loss — realized net P&L plus the
open positions marked to market — reaches the account's limit, the account is blocked for the
rest of the IST day (new exposure refused by `risk.check`, exits still allowed), the hit is
audited once, and, when the account's `square_off_on_loss_limit` says so, its working orders are
cancelled and every open position is closed at market (exit reason `auto_loss_limit`).

It runs after every booked round trip and after every mark-to-market pass (sync.py), so an open
position sliding through the limit blocks the account without waiting for its exit. Each run
also publishes what it read as the account's day metrics (realized and MTM P&L, loss used, the
limit, latched: metrics.py) — no query of its own; `observe` reads the same state once when an
account's gauges are missing or describe an earlier day (worker.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mandi.core.clock import to_ist
from mandi.core.errors import MandiError
from services.execution import metrics, risk
from services.execution.accounts import Account
from services.execution.ledger import audit
from services.execution.orders import OrderSpec

log = logging.getLogger(__name__)

# the day's state, and the open positions marked to market (entry cost against the last price)
STATE = """
SELECT r.daily_loss_limit_paise AS lim, r.square_off_on_loss_limit AS square_off,
       coalesce(d.realized_pnl_paise, 0) AS realized, coalesce(d.trading_blocked, false) AS blocked,
       (SELECT coalesce(sum(CASE WHEN last_price_paise > 0 THEN quantity * last_price_paise
                                 - sign(quantity) * cost_paise ELSE 0 END), 0)
          FROM positions WHERE account_id = $1 AND status = 'open') AS unrealized
FROM risk_limits r
LEFT JOIN daily_stats d ON d.account_id = r.account_id AND d.date = $2
WHERE r.account_id = $1"""

# the latch: exactly one caller flips trading_blocked for the day
LATCH = """
INSERT INTO daily_stats (account_id, date, trading_blocked, blocked_reason, updated_at)
VALUES ($1, $2, true, 'daily_loss_limit', now())
ON CONFLICT (account_id, date) DO UPDATE
  SET trading_blocked = true, blocked_reason = 'daily_loss_limit', updated_at = now()
  WHERE NOT daily_stats.trading_blocked
RETURNING 1"""

SQUARE_OFF_PURPOSES_KEPT = ("squareoff", "loss_limit", "gtt")


async def latch(pool: Any, account_id: str, now: datetime,
                notify: Callable[[str, dict[str, Any]], None] | None = None) -> bool | None:
    """Block the day when the loss reaches the limit. None: not hit (or already blocked);
    otherwise whether the account wants its positions squared off. The one caller that
    latches calls `notify("daily_loss_latch", ...)` (fire and forget)."""
    day = to_ist(now).date()
    row = await observe(pool, account_id, now)
    if row is None or row["blocked"]:
        return None
    realized, unrealized = int(row["realized"]), int(row["unrealized"])
    loss = -(realized + unrealized)
    if not risk.daily_loss_hit(loss, row["lim"]):
        return None
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(LATCH, account_id, day) is None:
            metrics.latched(account_id)
            return None  # another pass latched it first
        await audit(conn, account_id, "risk", "daily_loss_limit_hit", now,
                    realized_paise=realized, unrealized_paise=unrealized, loss_paise=loss,
                    limit_paise=int(row["lim"]), square_off=bool(row["square_off"]))
    metrics.latched(account_id)
    if notify is not None:
        notify("daily_loss_latch", {"account_id": account_id, "loss_paise": loss,
                                    "realized_paise": realized, "unrealized_paise": unrealized,
                                    "limit_paise": int(row["lim"]),
                                    "square_off": bool(row["square_off"])})
    return bool(row["square_off"])


async def observe(pool: Any, account_id: str, now: datetime) -> Any:
    """The account's day as the limit sees it (STATE's row, None for an unknown account),
    published as its day metrics."""
    day = to_ist(now).date()
    row = await pool.fetchrow(STATE, account_id, day)
    if row is not None:
        metrics.publish_day(account_id, day, realized_paise=int(row["realized"]),
                            mtm_paise=int(row["unrealized"]), limit_paise=int(row["lim"]),
                            latched=bool(row["blocked"]))
    return row


async def enforce(engine: Any, account: Account, now: datetime) -> bool:
    """Latch, and square off when the account asks for it. True when the limit latched now."""
    square_off = await latch(engine.pool, account.account_id, now, engine.events.notify)
    if square_off is None:
        return False
    if square_off:
        await square_off_account(engine, account, now)
    return True


async def square_off_account(engine: Any, account: Account, now: datetime) -> int:
    """Cancel the account's working orders, then close every open ledger position at market.
    Returns the positions sent for closing; failures are audited, never raised."""
    aid = account.account_id
    broker = engine.brokers.get(account)
    working = await engine.pool.fetch(
        "SELECT order_id, broker_order_id FROM orders WHERE account_id = $1"
        " AND status IN ('OPEN', 'TRIGGER_PENDING', 'PARTIALLY_FILLED')"
        " AND broker_order_id IS NOT NULL AND purpose <> ALL($2::text[])",
        aid, list(SQUARE_OFF_PURPOSES_KEPT))
    for w in working:
        try:
            await broker.cancel_order(w["broker_order_id"])
        except MandiError as exc:  # it may have filled meanwhile; the next sync tells
            log.info("loss-limit cancel of %s refused: %s", w["order_id"], exc)
    day = to_ist(now).date().isoformat()
    sent = 0
    for p in await engine.pool.fetch(
            "SELECT exchange, tradingsymbol, product, quantity FROM positions"
            " WHERE account_id = $1 AND status = 'open' AND quantity <> 0", aid):
        spec = OrderSpec(
            client_order_id=f"ll:{day}:{p['exchange']}:{p['tradingsymbol']}:{p['product']}",
            exchange=p["exchange"], tradingsymbol=p["tradingsymbol"],
            side="SELL" if p["quantity"] > 0 else "BUY", quantity=abs(p["quantity"]),
            order_type="MARKET", product=p["product"], allow_duplicate=True,
            purpose="loss_limit")
        try:
            await engine.place(aid, spec, actor="risk", skip_risk=True)
            sent += 1
        except MandiError as exc:
            log.error("loss-limit square-off of %s failed: %s", p["tradingsymbol"], exc)
            await audit(engine.pool, aid, "risk", "squareoff_failed", engine.clock.now(),
                        symbol=f"{p['exchange']}:{p['tradingsymbol']}", error=exc.message)
    await audit(engine.pool, aid, "risk", "loss_limit_square_off", engine.clock.now(),
                orders_cancelled=len(working), positions=sent)
    return sent
