"""What the broker and the exchange do across the day, by the simulator's clock.

* **MIS cut-off** (15:20 IST equity, 15:25 F&O): open MIS and CO orders of the segment are
  cancelled (a cover order's stop-loss leg with them) and every open MIS or CO position is
  squared off by the broker with its own MARKET order (no tag,
  filled at the cut-off second's last price), charged ₹50 + 18 % GST per order
  (`mandi.core.charges.auto_square_off_charges`), debited from cash.
* **Expiry** (at 15:30 IST on an expiry day): open index F&O positions are cash-settled at the
  underlying's closing price — options at their intrinsic value (0 when out of the money),
  futures at the close; stock futures are settled by physical delivery: a long becomes a
  holding of the shares at the close, a short delivers shares out of the holdings.
* Before each of these the order book is matched up to that moment (`OMS.advance(upto)`),
  so a clock that jumps across them (the tests' `/sim/clock`) sees what a running one would:
  fills before the cut-off count, none after it, and yesterday's orders trade through
  yesterday before the roll expires what is left.
* **Day roll** (the first advance on a later date): orders still working expire (CANCELLED),
  the order and trade books start empty (AMO orders for the next session stay), realised money
  settles into cash, CNC buys move to holdings (`t1_quantity` the next trading day, settled the
  day after), CNC sells leave the holding, and NRML positions carry with `overnight_quantity`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from mandi.core.calendar import is_trading_day, mis_cutoff, session_close
from mandi.core.charges import auto_square_off_charges
from mandi.core.clock import IST
from services.kitesim.clock import SimClock
from services.kitesim.oms import OMS
from services.kitesim.orders import TERMINAL, Order
from services.kitesim.portfolio import Portfolio, Position
from services.kitesim.session import USER_ID

INTRADAY = ("MIS", "CO")  # what the broker squares off at the cut-off
SQUAREOFF_MESSAGE = "Auto square-off: MIS position squared off by the broker at the cut-off"
EXPIRED_MESSAGE = "Order expired at the end of the trading day"


def _segment(kind: str) -> str:
    return "EQ" if kind == "EQ" else "FO"


@dataclass
class DayRoll:
    clock: SimClock
    oms: OMS
    portfolio: Portfolio
    day: date = field(init=False)
    done_cutoffs: set[tuple[date, str]] = field(default_factory=set)
    squareoffs: list[dict[str, Any]] = field(default_factory=list)
    settlements: list[dict[str, Any]] = field(default_factory=list)
    charges_paise: int = 0

    def __post_init__(self) -> None:
        self.day = self.clock.now_ist().date()

    @property
    def market(self) -> Any:
        return self.oms.market

    def advance(self) -> None:
        """Run every cut-off, expiry and day roll the clock has passed since the last call,
        each after matching the order book up to it (so today's matching starts from a rolled
        book, and nothing trades past a cut-off before the broker acts on it)."""
        now = self.clock.now()
        today = now.astimezone(IST).date()
        if today < self.day:  # the clock was moved back: follow it, nothing to undo
            self.day = today
        while True:
            if is_trading_day(self.day):
                for seg, exchange in (("EQ", "NSE"), ("FO", "NFO")):
                    at = mis_cutoff(self.day, exchange)  # the calendar's, per session
                    if at is not None and now >= at and (self.day, seg) not in self.done_cutoffs:
                        self.done_cutoffs.add((self.day, seg))
                        self.oms.advance(upto=at - timedelta(seconds=1))
                        self.square_off(seg, at)
                if now >= session_close(self.day) and (self.day, "EXP") not in \
                        self.done_cutoffs:
                    self.done_cutoffs.add((self.day, "EXP"))
                    self.oms.advance(upto=session_close(self.day))
                    self.settle_expiries(self.day)
            if today <= self.day:
                return
            if is_trading_day(self.day):
                self.oms.advance(upto=session_close(self.day))
            self.roll(self.day)
            self.day += timedelta(days=1)

    # --- MIS cut-off -------------------------------------------------------------------------
    def square_off(self, seg: str, at: datetime) -> None:
        for order in list(self.oms.orders.values()):
            if order.product in INTRADAY and _segment(order.inst.kind) == seg \
                    and order.status not in TERMINAL and order.status != "AMO REQ RECEIVED":
                self.oms._cancel_rest(order, at, "Order cancelled by the broker at the MIS "
                                                 "cut-off")
        epoch = int(at.timestamp())
        for pos in list(self.portfolio.positions.values()):
            if pos.product not in INTRADAY or _segment(pos.inst.kind) != seg or pos.net == 0:
                continue
            side = "SELL" if pos.net > 0 else "BUY"
            order = self._broker_order(pos, side, abs(pos.net), at)
            self.oms._fill(order, abs(pos.net), self.market.ltp(pos.inst, epoch), epoch)
            fee = auto_square_off_charges(1, on_date=self.day)
            self.portfolio.cash -= fee
            self.charges_paise += fee
            self.squareoffs.append({"order_id": order.order_id,
                                    "tradingsymbol": pos.inst.tradingsymbol,
                                    "exchange": pos.inst.exchange, "side": side,
                                    "quantity": order.quantity,
                                    "price": order.fill_value // order.quantity,
                                    "charges": fee})

    def _broker_order(self, pos: Position, side: str, qty: int, at: datetime) -> Order:
        order = Order(self.oms._next_id(at), "regular", pos.inst, side, pos.product, "MARKET",
                      qty, 0, 0, "DAY", None, 0, -1.0, None, at, USER_ID)
        self.oms.orders[order.order_id] = order
        for status in ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"):
            order.record(status, at)
        order.exchange_order_id = f"1100000{order.order_id[-9:]}"
        order.exchange_at = at
        order.record("OPEN", at, SQUAREOFF_MESSAGE)
        order.arrival = order.checked = int(at.timestamp())
        self.oms._emit(order)
        return order

    # --- expiry ------------------------------------------------------------------------------
    def settle_expiries(self, day: date) -> None:
        close = int(session_close(day).timestamp())
        universe = self.market.universe
        for pos in list(self.portfolio.positions.values()):
            inst = pos.inst
            if inst.expiry is None or inst.expiry > day or pos.net == 0:
                continue
            und = universe.by_token[inst.source]
            spot = self.market.ltp(und, close)
            if inst.kind == "OPT":
                intrinsic = spot - inst.strike if inst.instrument_type == "CE" \
                    else inst.strike - spot
                price, how = max(intrinsic, 0), "cash" if intrinsic > 0 else "worthless"
            else:
                price, how = spot, "cash" if und.kind == "INDEX" else "delivery"
            qty = pos.net
            if qty > 0:
                pos.sell_qty += qty
                pos.sell_value += qty * price
            else:
                pos.buy_qty -= qty
                pos.buy_value -= qty * price
            if how == "delivery":
                self._deliver(und, qty, price, day)
            self.settlements.append({"tradingsymbol": inst.tradingsymbol,
                                     "exchange": inst.exchange, "quantity": qty,
                                     "settlement_price": price, "underlying_close": spot,
                                     "kind": how, "expiry": day.isoformat()})

    def _deliver(self, und: Any, qty: int, price: int, day: date) -> None:
        """Physical settlement of a stock future: a long takes delivery (a holding bought at
        the settlement price), a short delivers shares out of the holding."""
        if qty > 0:
            self.portfolio.add_holding(und, qty, price, day)
            self.portfolio.cash -= qty * price
        else:
            delivered = self.portfolio.remove_holding(und, -qty)
            self.portfolio.cash += delivered * price

    # --- day roll ----------------------------------------------------------------------------
    def roll(self, day: date) -> None:
        """Close the book of `day` (a no-op on days without a session)."""
        if not is_trading_day(day):
            return
        close = session_close(day)
        keep = {}
        for oid, order in self.oms.orders.items():
            if order.status == "AMO REQ RECEIVED" and order.placed_at >= close:
                keep[oid] = order  # an after-market order for the next session
                continue
            if order.status not in TERMINAL:
                self.oms._cancel_rest(order, close, EXPIRED_MESSAGE)
        self.oms.orders = keep
        self.portfolio.settle_t1(before=day)
        carried: dict[tuple[int, str], Position] = {}
        for key, pos in self.portfolio.positions.items():
            (bq, bv), (sq, sv) = pos.total_buy, pos.total_sell
            net = pos.net
            if pos.product == "CNC":
                self.portfolio.cash += sv - bv
                if net > 0:
                    self.portfolio.add_holding(pos.inst, net, (2 * bv + bq) // (2 * bq), day)
                elif net < 0:
                    self.portfolio.remove_holding(pos.inst, -net)
                continue
            if net == 0:
                self.portfolio.cash += sv - bv
                continue
            cost = bv * net // bq if net > 0 else sv * -net // sq
            self.portfolio.cash += (sv - (bv - cost)) if net > 0 else ((sv - cost) - bv)
            carried[key] = Position(pos.inst, pos.product, overnight=net, overnight_value=cost)
        self.portfolio.positions = carried

    def as_json(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "squareoffs": self.squareoffs,
                "settlements": self.settlements, "charges": self.charges_paise / 100}
