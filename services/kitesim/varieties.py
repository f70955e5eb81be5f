"""The order varieties beyond `regular` and `amo`, as the simulator models them:

* `co` (cover order): a MARKET or LIMIT entry with a compulsory stop-loss `trigger_price` on
  the protective side of the last price and inside `/instruments/trigger_range`; product CO
  (MIS is accepted and recorded as CO). When the entry completes, the stop-loss leg is placed
  as an SL-M order of the opposite side with `parent_order_id` = the entry's id.
* `iceberg`: a LIMIT or SL order split into `iceberg_legs` (2-10) legs of `iceberg_quantity`
  (a lot multiple; legs × leg quantity must cover the quantity with the last leg non-empty).
  Each leg is its own order carrying `meta.iceberg{leg, legs, leg_quantity, total_quantity,
  remaining_quantity}`; the next leg is placed when the previous one completes.
* `autoslice=true` (any variety): a quantity above the freeze limit is split into slices of
  the largest lot multiple within it (at most 10 slices), each placed as its own order; the
  response is `{order_id, children: [{order_id} | {error: {code, error_type, message, data}}]}`
  where `order_id` names the slicing request (it is not itself an order in the book).
* `auction`: a CNC LIMIT SELL of a holding listed by `/portfolio/holdings/auctions`, naming its
  `auction_number`; it then rests and matches like a limit order on the price path.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from mandi.core.clock import IST
from services.kitesim.envelope import InputException, KiteError
from services.kitesim.orders import FREEZE_QTY, VARIETIES, check_price, form_int
from services.kitesim.universe import Instrument

if TYPE_CHECKING:
    from services.kitesim.oms import OMS
    from services.kitesim.orders import Order

CO_RANGE_PCT = {"EQ": 3, "FUT": 3, "OPT": 30}  # stop-loss range around the LTP for a CO


def trigger_range(inst: Instrument, ltp: int) -> tuple[int, int]:
    """(lower, upper) paise where a cover order's stop-loss may sit, around the LTP."""
    pct = CO_RANGE_PCT.get(inst.kind, 3)
    return ltp * (100 - pct) // 100, -(-ltp * (100 + pct) // 100)


def auction_number(inst: Instrument, day: date) -> str:
    """The day's auction number for a stock (deterministic: one auction per stock and day)."""
    return str(10 + (day.toordinal() + inst.exchange_token) % 90)


def check(oms: OMS, variety: str, form: dict, inst: Instrument, spec: dict) -> dict:
    """Validate the variety's own fields; the extra Order fields to set."""
    if spec["product"] == "CO" and variety != "co":
        raise InputException("Product CO is only for the `co` variety.")
    if variety == "co":
        return _check_co(oms, form, inst, spec)
    if variety == "iceberg":
        return _check_iceberg(form, inst, spec)
    if variety == "auction":
        return _check_auction(oms, form, inst, spec)
    return {}


def _check_co(oms: OMS, form: dict, inst: Instrument, spec: dict) -> dict:
    if spec["product"] not in ("CO", "MIS"):
        raise InputException("Cover orders are intraday: use product CO.")
    if spec["order_type"] not in ("MARKET", "LIMIT"):
        raise InputException("Cover orders take MARKET or LIMIT entries only.")
    try:
        trig = round(float(form.get("trigger_price") or 0) * 100)
    except ValueError:
        raise InputException("Invalid `trigger_price`.") from None
    if trig <= 0:
        raise InputException("Missing `trigger_price`: a cover order needs its stop-loss.")
    check_price(inst, trig, "trigger price")
    ltp = oms.market.ltp(inst, oms.clock.epoch())
    lo, hi = trigger_range(inst, ltp)
    buy = spec["side"] == "BUY"
    if (buy and not lo <= trig < ltp) or (not buy and not ltp < trig <= hi):
        raise InputException(
            f"Invalid `trigger_price`: the stop-loss must be between {lo / 100:.2f} and "
            f"{hi / 100:.2f}, {'below' if buy else 'above'} the last price {ltp / 100:.2f}.")
    spec["product"] = "CO"
    return {"co_trigger": trig}


def _check_iceberg(form: dict, inst: Instrument, spec: dict) -> dict:
    legs, leg_qty = form_int(form, "iceberg_legs"), form_int(form, "iceberg_quantity")
    if legs is None or not 2 <= legs <= 10:
        raise InputException("Invalid `iceberg_legs`: 2 to 10.")
    if spec["order_type"] not in ("LIMIT", "SL"):
        raise InputException("Iceberg orders take LIMIT or SL orders only.")
    lot = max(inst.lot_size, 1)
    total = spec["quantity"]
    if leg_qty is None or leg_qty <= 0 or leg_qty % lot:
        raise InputException(f"Invalid `iceberg_quantity`: a multiple of the lot size {lot}.")
    if not (legs - 1) * leg_qty < total <= legs * leg_qty:
        raise InputException(
            f"Invalid `iceberg_quantity`: {legs} legs of {leg_qty} must cover the quantity "
            f"{total} with every leg used.")
    return {"iceberg": {"leg": 1, "legs": legs, "leg_quantity": leg_qty,
                        "total_quantity": total, "remaining_quantity": total}}


def _check_auction(oms: OMS, form: dict, inst: Instrument, spec: dict) -> dict:
    number = str(form.get("auction_number") or "")
    if not number:
        raise InputException("Missing `auction_number`.")
    if spec["side"] != "SELL" or spec["product"] != "CNC" or spec["order_type"] != "LIMIT":
        raise InputException("Auction orders are CNC LIMIT SELL orders of a holding.")
    day = oms.clock.now().astimezone(IST).date()
    if inst.kind != "EQ" or oms.portfolio.holding_available(inst) <= 0 \
            or number != auction_number(inst, day):
        raise InputException("Invalid `auction_number` for this instrument: see "
                             "/portfolio/holdings/auctions.")
    return {"auction_number": number}


def leg_quantity(extra: dict, quantity: int) -> int:
    ice = extra.get("iceberg")
    return min(ice["leg_quantity"], quantity) if ice else quantity


def after_complete(oms: OMS, order: Order) -> None:
    """Follow-ups when an order completes: the next iceberg leg, or a cover order's stop."""
    if order.iceberg is not None:
        ice = order.iceberg
        remaining = ice["remaining_quantity"] - order.filled
        if remaining > 0 and ice["leg"] < ice["legs"]:
            nxt = {**ice, "leg": ice["leg"] + 1, "remaining_quantity": remaining}
            oms.spawn(order, quantity=min(ice["leg_quantity"], remaining), iceberg=nxt)
    elif order.variety == "co" and order.parent_order_id is None and order.co_trigger:
        oms.spawn(order, side="SELL" if order.side == "BUY" else "BUY", order_type="SL-M",
                  price=0, trigger_price=order.co_trigger, parent_order_id=order.order_id,
                  co_trigger=0)


MAX_SLICES = 10


def autoslice(oms: OMS, variety: str, form: dict, inst: Instrument | None) -> dict:
    """Place `form` in freeze-limit slices; Kite's autoslice response."""
    if variety not in VARIETIES:
        raise InputException(f"Invalid `variety`: the simulator supports {VARIETIES}.")
    if inst is None:
        raise InputException("Invalid `tradingsymbol`.")
    total = form_int(form, "quantity")
    if total is None or total <= 0:
        raise InputException("Invalid `quantity`.")
    freeze = FREEZE_QTY.get(inst.name) if inst.kind in ("FUT", "OPT") else None
    lot = max(inst.lot_size, 1)
    size = freeze // lot * lot if freeze else total
    sizes = [size] * (total // size) + ([total % size] if total % size else [])
    if len(sizes) > MAX_SLICES:
        raise InputException(f"Autoslice allows at most {MAX_SLICES} slices: reduce `quantity`.")
    children: list[dict] = []
    for qty in sizes:
        try:
            order = oms.place(variety, {**form, "quantity": str(qty)}, inst)
            children.append({"order_id": order.order_id})
        except KiteError as exc:
            children.append({"error": {"code": exc.http_status, "error_type": exc.error_type,
                                       "message": exc.message, "data": None}})
    return {"order_id": oms.slice_id(), "children": children}
