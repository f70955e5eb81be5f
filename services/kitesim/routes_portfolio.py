"""`PUT /portfolio/positions` (product conversion) and `GET /portfolio/holdings/auctions`.

Conversion moves `quantity` of an open day position from `old_product` to `new_product` at the
position's average price (so its P&L moves with it): CNC↔MIS for equities, NRML↔MIS for F&O.
It is refused, naming the field, for a position that does not exist, is on the other side, is
smaller than `quantity`, or for a product pair Kite does not convert. MIS→CNC needs the rest of
the delivery value in free funds; a converted CNC buy becomes T1 holding (and MIS takes it out).
Positions are never overnight in the simulator, so `position_type` must be `day`.
"""

from __future__ import annotations

from aiohttp import web

from mandi.core.clock import IST
from services.kitesim.envelope import InputException, success
from services.kitesim.portfolio import Holding, Position, margin_required
from services.kitesim.varieties import auction_number

ALLOWED = {"EQ": {("CNC", "MIS"), ("MIS", "CNC")},
           "FUT": {("NRML", "MIS"), ("MIS", "NRML")},
           "OPT": {("NRML", "MIS"), ("MIS", "NRML")}}


def _sim(request: web.Request):
    from services.kitesim.app import SIM

    sim = request.app[SIM]
    sim.sessions.check(request.headers.get("Authorization"))
    return sim


def _need(form, name: str) -> str:
    value = form.get(name)
    if not value:
        raise InputException(f"Missing `{name}`.")
    return str(value)


async def convert_position(request: web.Request) -> web.Response:
    sim = _sim(request)
    form = await request.post()
    sim.advance()
    inst = sim.universe.get(_need(form, "exchange"), _need(form, "tradingsymbol"))
    if inst is None or not inst.tradable:
        raise InputException("Invalid `tradingsymbol`.")
    side = _need(form, "transaction_type")
    if side not in ("BUY", "SELL"):
        raise InputException("Invalid `transaction_type`.")
    if _need(form, "position_type") not in ("day", "overnight"):
        raise InputException("Invalid `position_type`: day or overnight.")
    try:
        qty = int(_need(form, "quantity"))
    except ValueError:
        raise InputException("Invalid `quantity`.") from None
    old, new = _need(form, "old_product"), _need(form, "new_product")
    if (old, new) not in ALLOWED.get(inst.kind, set()):
        raise InputException(f"Invalid `new_product`: {old} cannot be converted to {new} for "
                             "this instrument.")
    if qty <= 0 or qty % max(inst.lot_size, 1):
        raise InputException("Invalid `quantity`.")
    pos = sim.portfolio.positions.get((inst.token, old))
    net = pos.net if pos else 0
    if form.get("position_type") == "overnight" or pos is None or net == 0:
        raise InputException(f"Invalid `tradingsymbol`: no open {form.get('position_type')} "
                             f"{old} position in {inst.key} to convert.")
    if (net > 0) != (side == "BUY") or abs(net) < qty:
        raise InputException(f"Invalid `quantity`: the {old} position in {inst.key} is "
                             f"{net:+d}; cannot convert {qty} ({side}).")
    assert pos is not None
    long = net > 0
    avg = pos.buy_value // pos.buy_qty if long else pos.sell_value // pos.sell_qty
    extra = margin_required(inst, side, new, qty, avg, avg) - \
        margin_required(inst, side, old, qty, avg, avg)
    if extra > 0 and extra > sim.portfolio.available(sim.oms.blocked_margin()):
        raise InputException("Insufficient funds to convert this position.")
    _move(sim.portfolio, pos, new, qty, avg, long)
    return success(True)


def _move(portfolio, pos: Position, new: str, qty: int, avg: int, long: bool) -> None:
    inst = pos.inst
    dest = portfolio.positions.setdefault((inst.token, new), Position(inst, new))
    if long:
        pos.buy_qty -= qty
        pos.buy_value -= qty * avg
        dest.buy_qty += qty
        dest.buy_value += qty * avg
    else:
        pos.sell_qty -= qty
        pos.sell_value -= qty * avg
        dest.sell_qty += qty
        dest.sell_value += qty * avg
    if inst.kind == "EQ" and long:
        h = portfolio.holdings.get(inst.token)
        if new == "CNC":
            if h is None:
                h = portfolio.holdings[inst.token] = Holding(inst, "", 0, avg)
            total = h.quantity + h.t1
            h.average = (h.average * total + avg * qty) // (total + qty)
            h.t1 += qty
        elif h is not None:
            h.t1 -= min(qty, h.t1)


async def holdings_auctions(request: web.Request) -> web.Response:
    """Holdings that can be sold in today's auction session (every holding with free
    quantity, each with the day's `auction_number`)."""
    sim = _sim(request)
    sim.advance()
    day = sim.clock.now().astimezone(IST).date()
    out = []
    for row in sim.portfolio.holdings_json():
        inst = sim.universe.by_token[row["instrument_token"]]
        if sim.portfolio.holding_available(inst) > 0:
            out.append({**row, "auction_number": auction_number(inst, day)})
    return success(out)


def register(router: web.UrlDispatcher) -> None:
    router.add_put("/portfolio/positions", convert_position)
    router.add_get("/portfolio/holdings/auctions", holdings_auctions)
