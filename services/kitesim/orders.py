"""Order objects, their Kite JSON shape and request validation.

Money is integer paise; `snapshot()` renders Kite's order object (rupee floats, naive IST
timestamps) and is appended to the order's history on every status change, so
`GET /orders/{id}` returns the real status progression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from mandi.core.clock import IST
from mandi.core.money import rupees_to_paise
from services.kitesim import rules
from services.kitesim.envelope import InputException, rupees
from services.kitesim.universe import Instrument

VARIETIES = ("regular", "amo", "co", "iceberg", "auction")
PRODUCTS = ("CNC", "NRML", "MIS", "CO")
ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
VALIDITIES = ("DAY", "IOC", "TTL")
TERMINAL = ("COMPLETE", "CANCELLED", "REJECTED")
WORKING = ("OPEN", "TRIGGER PENDING", "AMO REQ RECEIVED")
FREEZE_QTY = {"NIFTY": 1800, "BANKNIFTY": 600, "SENSEX": 1000}
MAX_MODIFICATIONS = 25
_TAG = re.compile(r"^[A-Za-z0-9_\-]{1,20}$")


def kite_time(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Fill:
    trade_id: str
    qty: int
    price: int
    at: datetime


@dataclass
class Order:
    order_id: str
    variety: str
    inst: Instrument
    side: str
    product: str
    order_type: str
    quantity: int
    price: int
    trigger_price: int
    validity: str
    validity_ttl: int | None
    disclosed_quantity: int
    market_protection: float
    tag: str | None
    placed_at: datetime
    placed_by: str
    status: str = "PUT ORDER REQ RECEIVED"
    status_message: str | None = None
    exchange_order_id: str | None = None
    exchange_at: datetime | None = None
    updated_at: datetime | None = None
    filled: int = 0
    cancelled: int = 0
    fill_value: int = 0
    modifications: int = 0
    checked: int = 0  # last sim epoch second the matcher has seen
    arrival: int = 0  # sim epoch second at which the order became marketable (fills at LTP)
    triggered: bool = False
    parent_gtt: int | None = None
    parent_order_id: str | None = None
    auction_number: str | None = None
    iceberg: dict | None = None  # Kite's meta.iceberg {leg, legs, leg_quantity, ...}
    co_trigger: int = 0  # a cover order's stop-loss trigger (paise), placed on completion
    fills: list[Fill] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return self.quantity - self.filled - self.cancelled

    @property
    def effective_type(self) -> str:
        if self.order_type == "SL":
            return "LIMIT"
        if self.order_type == "SL-M":
            return "MARKET"
        return self.order_type

    def snapshot(self) -> dict[str, Any]:
        avg = round(self.fill_value / self.filled / 100, 2) if self.filled else 0
        return {
            "placed_by": self.placed_by, "order_id": self.order_id,
            "exchange_order_id": self.exchange_order_id,
            "parent_order_id": self.parent_order_id,
            "status": self.status, "status_message": self.status_message,
            "status_message_raw": self.status_message,
            "order_timestamp": kite_time(self.updated_at or self.placed_at),
            "exchange_update_timestamp": kite_time(self.updated_at) if self.exchange_at else None,
            "exchange_timestamp": kite_time(self.exchange_at),
            "variety": self.variety, "modified": self.modifications > 0,
            "exchange": self.inst.exchange, "tradingsymbol": self.inst.tradingsymbol,
            "instrument_token": self.inst.token, "order_type": self.order_type,
            "transaction_type": self.side, "validity": self.validity,
            "validity_ttl": self.validity_ttl, "product": self.product,
            "quantity": self.quantity, "disclosed_quantity": self.disclosed_quantity,
            "price": rupees(self.price), "trigger_price": rupees(self.trigger_price),
            "average_price": avg, "filled_quantity": self.filled,
            "pending_quantity": self.pending if self.status not in TERMINAL else 0,
            "cancelled_quantity": self.cancelled, "market_protection": self.market_protection,
            "meta": self.meta(),
            "tag": self.tag, "tags": [self.tag] if self.tag else [],
            "guid": f"sim{self.order_id}", "account_id": self.placed_by,
            "auction_number": self.auction_number, "terminal_id": None,
        }

    def meta(self) -> dict:
        out: dict[str, Any] = {}
        if self.parent_gtt is not None:
            out["gtt"] = self.parent_gtt
        if self.iceberg is not None:
            out["iceberg"] = dict(self.iceberg)
        return out

    def record(self, status: str, at: datetime, message: str | None = None) -> dict:
        self.status = status
        self.updated_at = at
        if message is not None:
            self.status_message = message
        snap = self.snapshot()
        self.history.append(snap)
        return snap


def form_int(form: dict, name: str, default: int | None = None) -> int | None:
    raw = form.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
        whole = int(value)
    except (TypeError, ValueError, OverflowError):  # not a number, nan, inf
        raise InputException(f"Invalid `{name}`.") from None
    if value != whole:
        raise InputException(f"Invalid `{name}`.")
    return whole


def form_paise(form: dict, name: str, inst: Instrument | None = None) -> int:
    raw = form.get(name)
    if raw in (None, ""):
        return 0
    try:
        paise = rupees_to_paise(str(raw))
    except ValueError:
        raise InputException(f"Invalid `{name}`.") from None
    if inst is not None and Decimal(str(raw)) * 100 != paise:  # finer than a paisa
        raise tick_error(inst, name.replace("_", " "))
    return paise


def _choice(form: dict, name: str, allowed: tuple[str, ...]) -> str:
    value = form.get(name)
    if not value:
        raise InputException(f"Missing `{name}`.")
    if value not in allowed:
        raise InputException(f"Invalid `{name}`.")
    return value


def tick_error(inst: Instrument, what: str) -> InputException:
    return InputException(
        f"Tick size for this script is {inst.tick / 100:.2f}. Kindly enter {what} in the "
        "multiple of tick size for this script")


def check_price(inst: Instrument, paise: int, what: str) -> None:
    if paise <= 0 or paise % inst.tick:
        raise tick_error(inst, what)


def check_quantity(inst: Instrument, qty: int | None) -> int:
    if qty is None or qty <= 0:
        raise InputException("Invalid `quantity`.")
    if qty % max(inst.lot_size, 1):
        raise InputException(
            f"Quantity should be a multiple of lot size {inst.lot_size}.")
    freeze = FREEZE_QTY.get(inst.name) if inst.kind in ("FUT", "OPT") else None
    if freeze and qty > freeze:
        raise InputException(
            f"Quantity exceeds the freeze limit of {freeze}. Split the order or use autoslice.")
    return qty


def parse_order_form(form: dict, inst: Instrument | None) -> dict:
    """Validate a place-order form (synchronous InputExceptions, as Kite does)."""
    if inst is None:
        raise InputException("Invalid `tradingsymbol`.")
    if not inst.tradable:
        raise InputException("Indices are not tradable.")
    side = _choice(form, "transaction_type", ("BUY", "SELL"))
    product = _choice(form, "product", PRODUCTS)
    order_type = _choice(form, "order_type", ORDER_TYPES)
    validity = form.get("validity") or "DAY"
    if validity not in VALIDITIES:
        raise InputException("Invalid `validity`.")
    if product == "CNC" and inst.kind != "EQ":
        raise InputException("CNC product is only for equity delivery. Use NRML or MIS.")
    if product == "NRML" and inst.kind == "EQ":
        raise InputException("NRML product is only for F&O. Use CNC or MIS.")
    rules.check_order_type(inst, order_type)
    qty = check_quantity(inst, form_int(form, "quantity"))
    price = form_paise(form, "price", inst) if order_type in ("LIMIT", "SL") else 0
    trigger = form_paise(form, "trigger_price", inst) if order_type in ("SL", "SL-M") else 0
    if order_type in ("LIMIT", "SL"):
        check_price(inst, price, "price")
    if order_type in ("SL", "SL-M"):
        check_price(inst, trigger, "trigger price")
    tag = form.get("tag") or None
    if tag is not None and not _TAG.match(tag):
        raise InputException("Invalid `tag`: up to 20 alphanumeric characters.")
    protection = rules.parse_market_protection(form.get("market_protection"))
    rules.check_market_protection(order_type, protection)
    return {
        "side": side, "product": product, "order_type": order_type, "quantity": qty,
        "price": price, "trigger_price": trigger, "validity": validity,
        "validity_ttl": rules.check_ttl(validity, form_int(form, "validity_ttl")), "tag": tag,
        "disclosed_quantity": form_int(form, "disclosed_quantity", 0) or 0,
        "market_protection": protection,
    }
