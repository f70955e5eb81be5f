"""A bot's exit that reached the broker after its MIS auto square-off.

Zerodha squares MIS positions off at the cut-off (15:20 IST equity, 15:25 F&O) and refuses MIS
orders after it that would open a position. A bot squares off one bar before the cut-off
(bot_engine.py), but an exit that reaches the broker late — a slow hop on a loaded machine, a
bot resumed after the cut-off — finds the position already flat: execution refuses it (after the
cut-off it takes only orders that reduce a position it knows) or the broker rejects it. The leg
*was* closed, by the broker at the square-off's price, and execution has adopted the broker's
square-off order (client_order_id `asqf:…`, services/execution/external.py).

`broker_squareoff` finds that order: the account's MIS position in the symbol is flat, and a
COMPLETE adopted square-off of the symbol on the exit's side was created on the exit's IST day.
The runner then books the exit as filled by it — the bot's order record takes status
`SQUARED_OFF: …` with the square-off's order id, price and fill time, the leg's realized P&L its
price — instead of stopping with "the position needs a human". Parity pairs that record with the
backtest's square-off (category `broker_squareoff`). Anything else (a position still open, no
square-off found) leaves the exit refused, and the bot stops as before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mandi.core.charges import Side
from mandi.core.clock import IST
from mandi.platform.protoconv import from_timestamp, has_timestamp
from mandi.v1 import common_pb2, execution_pb2, strategy_pb2
from services.strategy.bot_engine import OrderIntent
from services.strategy.candles import symbol_name
from services.strategy.parity import ist_day_bounds
from services.strategy.parity_store import ns_of

SQUARED_OFF = "SQUARED_OFF"  # the bot's order record of an exit the broker's square-off made
SQUAREOFF_PREFIX = "asqf:"  # execution's client_order_id of an adopted broker square-off
PAGE = 200
MAX_PAGES = 10  # the day's orders of a busy account, newest first
TIMEOUT_S = 10


async def broker_squareoff(execution: Any, account_id: str, o: OrderIntent) -> Any | None:
    """The broker's square-off order that closed exit `o`'s leg (an execution Order), or None
    when the account still holds an MIS position in the symbol or no square-off is found."""
    pos = await execution.Positions(execution_pb2.PositionsRequest(account_id=account_id),
                                    timeout=TIMEOUT_S)
    if any(symbol_name(p.symbol) == o.symbol and p.product == strategy_pb2.PRODUCT_MIS
           and p.quantity for p in pos.positions):
        return None
    since, until = ist_day_bounds(
        datetime.fromtimestamp(o.bar_ts / 1e9, UTC).astimezone(IST).date())  # epoch ns
    side = execution_pb2.SIDE_BUY if o.side is Side.BUY else execution_pb2.SIDE_SELL
    token = ""
    for _ in range(MAX_PAGES):
        resp = await execution.ListOrders(execution_pb2.ListOrdersRequest(
            account_id=account_id, status=execution_pb2.ORDER_STATUS_COMPLETE,
            page=common_pb2.PageRequest(page_size=PAGE, page_token=token)), timeout=TIMEOUT_S)
        for eo in resp.orders:  # newest first
            created = ns_of(from_timestamp(eo.created_at)) if has_timestamp(eo.created_at) \
                else None
            if created is not None and created < since:
                return None
            r = eo.request
            if (created is not None and created < until and eo.filled_quantity > 0
                    and r.client_order_id.startswith(SQUAREOFF_PREFIX)
                    and symbol_name(r.symbol) == o.symbol and r.side == side):
                return eo
        token = resp.page.next_page_token
        if not token:
            return None
    return None


def squared_off_status(eo: Any) -> str:
    return (f"{SQUARED_OFF}: the broker's auto square-off {eo.order_id} closed the leg before "
            "the bot's exit reached it")
