"""`PUT /portfolio/positions` (product conversion) and `GET /portfolio/holdings/auctions`.

Conversion moves `quantity` of an open position from `old_product` to `new_product` at the
position's average price (so its P&L moves with it): CNC↔MIS for equities, NRML↔MIS for F&O.
`position_type` picks the part: `day` (today's trades: day buys less day sells, at the day
average) or `overnight` (what the day roll carried, at the carried average). It is refused,
naming the field, for a part that does not exist, is on the other side, is smaller than
`quantity`, or for a product pair Kite does not convert. MIS→CNC needs the rest of the delivery
value in free funds. Holdings are not touched: a CNC day position is what `holding_available`
counts today and what the day roll moves into T1 (`dayroll.py`).
"""

from __future__ import annotations

from aiohttp import web

from mandi.core.clock import IST
from services.kitesim import rules
from services.kitesim.envelope import InputException, success
from services.kitesim.portfolio import Position, margin_required
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
    part = _need(form, "position_type")
    if part not in ("day", "overnight"):
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
    if new == "MIS":
        # the broker has squared MIS off for the day: a position moved into MIS now would
        # never be squared off (and would carry overnight as MIS)
        cutoff = rules.mis_cutoff_at(inst, sim.clock.now_ist())
        if cutoff is not None and sim.clock.now_ist() >= cutoff:
            raise InputException(f"Invalid `new_product`: no conversion to MIS after "
                                 f"{cutoff:%H:%M}, the MIS cut-off.")
    pos = sim.portfolio.positions.get((inst.token, old))
    have = 0 if pos is None else pos.overnight if part == "overnight" else \
        pos.buy_qty - pos.sell_qty
    if pos is None or have == 0:
        raise InputException(f"Invalid `tradingsymbol`: no open {part} {old} position in "
                             f"{inst.key} to convert.")
    if (have > 0) != (side == "BUY") or abs(have) < qty:
        raise InputException(f"Invalid `quantity`: the {part} {old} position in {inst.key} is "
                             f"{have:+d}; cannot convert {qty} ({side}).")
    value = _value_of(pos, part, have > 0, qty)
    avg = value // qty
    extra = margin_required(inst, side, new, qty, avg, avg) - \
        margin_required(inst, side, old, qty, avg, avg)
    if extra > 0 and extra > sim.portfolio.available(sim.oms.blocked_margin()):
        raise InputException("Insufficient funds to convert this position.")
    _move(sim.portfolio, pos, new, part, have > 0, qty, value)
    return success(True)


def _value_of(pos: Position, part: str, long: bool, qty: int) -> int:
    """The paise that `qty` of the part carries: its share of the day buy (sell) value, or of
    the carried cost."""
    if part == "overnight":
        return pos.overnight_value * qty // abs(pos.overnight)
    if long:
        return pos.buy_value * qty // pos.buy_qty
    return pos.sell_value * qty // pos.sell_qty


def _move(portfolio, pos: Position, new: str, part: str, long: bool, qty: int,
          value: int) -> None:
    inst = pos.inst
    dest = portfolio.positions.setdefault((inst.token, new), Position(inst, new))
    if part == "overnight":
        signed = qty if long else -qty
        pos.overnight -= signed
        pos.overnight_value -= value
        dest.overnight += signed
        dest.overnight_value += value
    elif long:
        pos.buy_qty -= qty
        pos.buy_value -= value
        dest.buy_qty += qty
        dest.buy_value += value
    else:
        pos.sell_qty -= qty
        pos.sell_value -= value
        dest.sell_qty += qty
        dest.sell_value += value


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
