"""Orders Mandi did not place: the broker's MIS auto square-off and orders from the Kite app.

Mandi sends every order with a tag (the client_order_id); a broker order without one that no
GTT of ours placed is external. It is adopted as an order row (`external`, purpose `adopted`) so
its fills go through the ledger like any other: the position it opens or closes, the trade it
books. A broker square-off (an untagged MIS order at or after the cut-off, 15:20 IST equity and
15:25 F&O, or one the broker says is a square-off) is also charged Zerodha's ₹50 + 18 % GST per
order, booked once per order as a charge-only trade row (idempotent on its import key).
"""

from __future__ import annotations

import logging
from typing import Any

from mandi.core.calendar import mis_cutoff
from mandi.core.charges import auto_square_off_charges
from mandi.core.clock import to_ist
from services.execution.accounts import Account
from services.execution.brokers.base import BrokerOrder
from services.execution.ledger import audit, insert_trade_row
from services.execution.orders import ORDER_TYPES, PRODUCTS, SIDES, OrderRepo, OrderSpec

log = logging.getLogger(__name__)

SQUAREOFF_PREFIX = "asqf:"   # client_order_id of an adopted broker square-off
EXTERNAL_PREFIX = "ext:"     # client_order_id of any other adopted external order


def is_external_row(row: Any) -> bool:
    return row["client_order_id"].startswith((SQUAREOFF_PREFIX, EXTERNAL_PREFIX))


def is_squareoff_row(row: Any) -> bool:
    return row["client_order_id"].startswith(SQUAREOFF_PREFIX)


def is_auto_squareoff(bo: BrokerOrder) -> bool:
    """An untagged MIS order the broker placed at its intraday cut-off."""
    if bo.product != "MIS" or bo.tag:
        return False
    if "square" in bo.status_message.lower():
        return True
    if bo.ts is None:
        return False
    cutoff = mis_cutoff(to_ist(bo.ts).date(), bo.exchange)  # per exchange and session
    return cutoff is not None and bo.ts >= cutoff


async def adopt_external(engine: Any, account: Account, bo: BrokerOrder) -> Any:
    """Record a broker order Mandi did not place; returns its order row (None if the snapshot
    is too thin to book, e.g. no instrument). Idempotent: the client_order_id is derived from
    the broker order id and its IST day."""
    if bo.tag or bo.side not in SIDES or bo.product not in PRODUCTS or bo.quantity <= 0 \
            or not bo.tradingsymbol:
        return None
    if bo.filled_quantity == 0 and bo.status.upper() in ("REJECTED", "CANCELLED"):
        return None  # nothing traded: nothing to book
    aid = account.account_id
    now = engine.clock.now()
    day = to_ist(bo.ts or now).date()
    squareoff = is_auto_squareoff(bo)
    prefix = SQUAREOFF_PREFIX if squareoff else EXTERNAL_PREFIX
    coid = f"{prefix}{day:%Y%m%d}:{bo.broker_order_id}"
    existing = await OrderRepo.by_client_id(engine.pool, aid, coid)
    if existing is not None:
        return existing
    inst = await engine.instrument(account, bo.exchange, bo.tradingsymbol)
    spec = OrderSpec(client_order_id=coid, exchange=bo.exchange, tradingsymbol=bo.tradingsymbol,
                     side=bo.side, quantity=bo.quantity,
                     order_type=bo.order_type if bo.order_type in ORDER_TYPES else "MARKET",
                     product=bo.product, price_paise=bo.price_paise,
                     trigger_price_paise=bo.trigger_price_paise, purpose="adopted")
    what = "auto square-off by the broker" if squareoff else "placed outside Mandi"
    async with engine.pool.acquire() as conn, conn.transaction():
        row = await OrderRepo.insert_row(conn, aid, spec, now=now, status="OPEN",
                                         broker_order_id=bo.broker_order_id,
                                         message=f"{what} ({bo.broker_order_id})")
        if row is None:  # a concurrent pass adopted it first
            return await OrderRepo.by_client_id(conn, aid, coid)
        await conn.execute("UPDATE orders SET external = true WHERE account_id = $1"
                           " AND order_id = $2", aid, row["order_id"])
        if squareoff:
            fee = auto_square_off_charges(1, on_date=day)
            await insert_trade_row(
                conn, aid, trade_id=f"asqf{row['order_id']}", exchange=bo.exchange,
                tradingsymbol=bo.tradingsymbol, segment=inst.segment, side=bo.side, quantity=0,
                entry_price_paise=0, exit_price_paise=0, entry_ts=bo.ts or now,
                exit_ts=bo.ts or now, trade_date=day, realized=0, charges_paise=fee,
                exit_reason="auto_squareoff_charge", import_key=f"{coid}:charge")
            await conn.execute("UPDATE trades SET external = true WHERE account_id = $1"
                               " AND trade_id = $2", aid, f"asqf{row['order_id']}")
        await audit(conn, aid, "broker", "external_order_adopted", now,
                    broker_order_id=bo.broker_order_id, kind=prefix.rstrip(":"),
                    symbol=f"{bo.exchange}:{bo.tradingsymbol}", side=bo.side,
                    quantity=bo.quantity, status=bo.status)
    log.info("account %s: adopted external order %s (%s)", aid, bo.broker_order_id, what)
    return await OrderRepo.by_client_id(engine.pool, aid, coid)
