"""Kite's JSON-body calculators: `POST /margins/orders`, `POST /margins/basket` and
`POST /charges/orders` (the virtual contract note). Charges are real: `mandi.core.charges`
(Zerodha's dated rate table, exact paise) priced on the simulated day; margins use the
simulator's own `portfolio.margin_required` (plausible, not SPAN)."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from mandi.core import charges as ch
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from services.kitesim.envelope import InputException, rupees, success
from services.kitesim.orders import PRODUCTS
from services.kitesim.portfolio import margin_required
from services.kitesim.universe import Instrument


def _sim(request: web.Request):
    from services.kitesim.app import SIM

    sim = request.app[SIM]
    sim.sessions.check(request.headers.get("Authorization"))
    return sim


async def _items(request: web.Request) -> list[dict]:
    try:
        items = await request.json()
    except ValueError:
        raise InputException("Invalid JSON body: expected a list of orders.") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InputException("Invalid JSON body: expected a list of orders.")
    return items


def _field(item: dict, name: str, n: int) -> Any:
    value = item.get(name)
    if value in (None, ""):
        raise InputException(f"Missing `{name}` in order {n}.")
    return value


def _parse(sim, item: dict, n: int, price_key: str = "price") -> tuple[Instrument, dict]:
    inst = sim.universe.get(str(_field(item, "exchange", n)),
                            str(_field(item, "tradingsymbol", n)))
    if inst is None or not inst.tradable:
        raise InputException(f"Invalid `tradingsymbol` in order {n}.")
    side = _field(item, "transaction_type", n)
    if side not in ("BUY", "SELL"):
        raise InputException(f"Invalid `transaction_type` in order {n}.")
    product = _field(item, "product", n)
    if product not in PRODUCTS:
        raise InputException(f"Invalid `product` in order {n}.")
    try:
        qty = int(_field(item, "quantity", n))
    except (TypeError, ValueError, OverflowError):
        raise InputException(f"Invalid `quantity` in order {n}.") from None
    if qty <= 0:
        raise InputException(f"Invalid `quantity` in order {n}.")
    try:
        price = round(float(item.get(price_key) or 0) * 100)
    except (TypeError, ValueError, OverflowError):
        raise InputException(f"Invalid `{price_key}` in order {n}.") from None
    if price < 0:
        raise InputException(f"Invalid `{price_key}` in order {n}.")
    epoch = sim.clock.epoch()
    return inst, {"side": side, "product": product, "qty": qty,
                  "price": price or sim.market.ltp(inst, epoch),
                  "spot": sim.market.ltp(sim.universe.by_token[inst.source], epoch)}


def charge_segment(inst: Instrument, product: str) -> ch.Segment:
    if inst.kind == "EQ":
        return ch.Segment.EQUITY_DELIVERY if product == "CNC" else ch.Segment.EQUITY_INTRADAY
    return ch.Segment.FUTURES if inst.kind == "FUT" else ch.Segment.OPTIONS


def charges_json(inst: Instrument, side: str, product: str, qty: int, price: int,
                 on: date) -> dict:
    """Kite's `charges{}` block for one executed order, from `mandi.core.charges`."""
    exchange = "BSE" if inst.exchange in ("BSE", "BFO") else "NSE"
    try:
        b = ch.charges(charge_segment(inst, product), side, qty, price, on, exchange)
    except InvalidInput as exc:
        raise InputException(f"Invalid `{exc.field or 'order'}`: {exc}") from None
    return {
        "transaction_tax": rupees(b.stt), "transaction_tax_type": "stt",
        "exchange_turnover_charge": rupees(b.exchange_txn),
        "sebi_turnover_charge": rupees(b.sebi), "brokerage": rupees(b.brokerage),
        "stamp_duty": rupees(b.stamp),
        "gst": {"igst": rupees(b.gst), "cgst": 0, "sgst": 0, "total": rupees(b.gst)},
        "total": rupees(b.total),
    }


def _margin_row(inst: Instrument, o: dict, on: date) -> dict:
    need = margin_required(inst, o["side"], o["product"], o["qty"], o["price"], o["spot"])
    premium = need if inst.kind == "OPT" and o["side"] == "BUY" else 0
    span = need if inst.kind in ("FUT", "OPT") and not premium else 0
    var = need if inst.kind == "EQ" else 0
    return {"type": "equity", "tradingsymbol": inst.tradingsymbol, "exchange": inst.exchange,
            "span": rupees(span), "exposure": 0, "option_premium": rupees(premium),
            "additional": 0, "bo": 0, "cash": 0, "var": rupees(var),
            "pnl": {"realised": 0, "unrealised": 0},
            "leverage": 5 if inst.kind == "EQ" and o["product"] != "CNC" else 1,
            "charges": charges_json(inst, o["side"], o["product"], o["qty"], o["price"], on),
            "total": rupees(need), "_need": need}


def _today(sim) -> date:
    return sim.clock.now().astimezone(IST).date()


async def order_margins(request: web.Request) -> web.Response:
    sim = _sim(request)
    on = _today(sim)
    rows = [_margin_row(*_parse(sim, item, n), on)
            for n, item in enumerate(await _items(request), 1)]
    for row in rows:
        del row["_need"]
    return success(rows)


def _summary(rows: list[dict], total: int) -> dict:
    keys = ("span", "option_premium", "var")
    out: dict[str, Any] = {"type": "", "tradingsymbol": "", "exchange": "",
                           **{k: round(sum(r[k] for r in rows), 2) for k in keys},
                           "exposure": 0, "additional": 0, "bo": 0, "cash": 0,
                           "pnl": {"realised": 0, "unrealised": 0}, "leverage": 0,
                           "total": rupees(total)}
    out["charges"] = _sum_charges([r["charges"] for r in rows])
    return out


def _sum_charges(blocks: list[dict]) -> dict:
    def add(key: str) -> float:
        return round(sum(b[key] for b in blocks), 2)

    gst = round(sum(b["gst"]["total"] for b in blocks), 2)
    return {"transaction_tax": add("transaction_tax"), "transaction_tax_type": "stt",
            "exchange_turnover_charge": add("exchange_turnover_charge"),
            "sebi_turnover_charge": add("sebi_turnover_charge"), "brokerage": add("brokerage"),
            "stamp_duty": add("stamp_duty"),
            "gst": {"igst": gst, "cgst": 0, "sgst": 0, "total": gst}, "total": add("total")}


async def basket_margins(request: web.Request) -> web.Response:
    """`initial` = the orders' margins added up; `final` = the same less what offsets: a SELL
    option's margin is reduced by the premium of BUY options on the same underlying in the
    basket (a spread's hedge benefit), never below zero. `consider_positions` is accepted;
    the simulator's open positions are not netted in."""
    sim = _sim(request)
    on = _today(sim)
    parsed = [_parse(sim, item, n) for n, item in enumerate(await _items(request), 1)]
    rows = [_margin_row(inst, o, on) for inst, o in parsed]
    initial = sum(r["_need"] for r in rows)
    hedge: dict[int, int] = {}
    for (inst, o), r in zip(parsed, rows, strict=True):
        if inst.kind == "OPT" and o["side"] == "BUY":
            hedge[inst.source] = hedge.get(inst.source, 0) + r["_need"]
    final = 0
    for (inst, o), r in zip(parsed, rows, strict=True):
        need = r["_need"]
        if inst.kind == "OPT" and o["side"] == "SELL" and hedge.get(inst.source):
            used = min(need, hedge[inst.source])
            hedge[inst.source] -= used
            need -= used
        final += need
    for row in rows:
        del row["_need"]
    return success({"initial": _summary(rows, initial), "final": _summary(rows, final),
                    "orders": rows,
                    "charges": _sum_charges([r["charges"] for r in rows])})


async def order_charges(request: web.Request) -> web.Response:
    """The virtual contract note: each executed order with its charges."""
    sim = _sim(request)
    on = _today(sim)
    out = []
    for n, item in enumerate(await _items(request), 1):
        inst, o = _parse(sim, item, n, price_key="average_price")
        out.append({"transaction_type": o["side"], "tradingsymbol": inst.tradingsymbol,
                    "exchange": inst.exchange, "variety": item.get("variety") or "regular",
                    "product": o["product"], "order_type": item.get("order_type") or "MARKET",
                    "quantity": o["qty"], "price": rupees(o["price"]),
                    "charges": charges_json(inst, o["side"], o["product"], o["qty"],
                                            o["price"], on)})
    return success(out)


def register(router: web.UrlDispatcher) -> None:
    router.add_post("/margins/orders", order_margins)
    router.add_post("/margins/basket", basket_margins)
    router.add_post("/charges/orders", order_charges)
