"""The order management system: place/modify/cancel, RMS checks, matching against the price
path second by second, trades, and order postbacks.

Matching rules (per simulated second, using the same path the ticker plays):
* MARKET (and SL-M once triggered) fills at the second's last price;
* LIMIT fills when the price crosses: at the last price if marketable on arrival, otherwise at
  the limit price; SL/SL-M wait in TRIGGER PENDING until the price reaches the trigger;
* at most max(lot, 10 × the second's traded quantity) fills per second, so large orders fill
  partially over several seconds (each partial fill is an `UPDATE` postback);
* IOC cancels whatever did not fill on arrival; DAY orders still open at 15:30 are cancelled;
* AMO orders wait in AMO REQ RECEIVED until the next session opens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import numpy as np

from mandi.core.calendar import next_open, next_trading_day, session_close, session_open
from mandi.core.clock import IST
from services.kitesim.clock import SimClock
from services.kitesim.envelope import InputException, OrderException, rupees
from services.kitesim.market import Block, Market
from services.kitesim.orders import (
    MAX_MODIFICATIONS,
    TERMINAL,
    VARIETIES,
    Fill,
    Order,
    check_price,
    check_quantity,
    parse_order_form,
)
from services.kitesim.portfolio import Portfolio, margin_required
from services.kitesim.session import USER_ID
from services.kitesim.universe import Instrument

Listener = Callable[[dict], None]


class OMS:
    def __init__(self, market: Market, clock: SimClock, portfolio: Portfolio,
                 api_secret: str) -> None:
        self.market = market
        self.clock = clock
        self.portfolio = portfolio
        self._secret = api_secret
        self.orders: dict[str, Order] = {}
        self.listeners: list[Listener] = []
        self._seq = 0
        self._trade_seq = 0

    # --- helpers -----------------------------------------------------------------------------
    def _now(self) -> tuple[datetime, int]:
        now = self.clock.now()
        epoch = int(now.timestamp())
        return datetime.fromtimestamp(epoch, UTC), epoch

    def _next_id(self, now: datetime) -> str:
        self._seq += 1
        return f"{now.astimezone(IST):%y%m%d}{self._seq:09d}"

    def get(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise OrderException("Couldn't find that `order_id`.")
        return order

    def _emit(self, order: Order, status: str | None = None) -> None:
        snap = order.snapshot()
        if status:
            snap["status"] = status
        snap.update(user_id=USER_ID, app_id=1, unfilled_quantity=order.pending)
        snap["checksum"] = hashlib.sha256(
            (order.order_id + str(snap["order_timestamp"]) + self._secret).encode()).hexdigest()
        for listener in list(self.listeners):
            listener(snap)

    def blocked_margin(self) -> int:
        total = 0
        for o in self.orders.values():
            if o.status in TERMINAL or o.pending <= 0:
                continue
            if o.side == "SELL" and o.product == "CNC":
                continue
            ref = o.price or o.trigger_price or self.market.ltp(o.inst, self.clock.epoch())
            total += margin_required(o.inst, o.side, o.product, o.pending, ref, ref)
        return total

    # --- place / modify / cancel ----------------------------------------------------------
    def place(self, variety: str, form: dict, inst: Instrument | None,
              parent_gtt: int | None = None) -> Order:
        if variety not in VARIETIES:
            raise InputException(f"Invalid `variety`: the simulator supports {VARIETIES}.")
        spec = parse_order_form(form, inst)
        assert inst is not None
        now, epoch = self._now()
        live = self.market.locate(epoch).live
        if variety == "regular" and not live:
            raise InputException("Markets are closed right now. Use GTT for placing long "
                                 "standing orders instead.")
        order = Order(self._next_id(now), variety, inst, spec["side"], spec["product"],
                      spec["order_type"], spec["quantity"], spec["price"],
                      spec["trigger_price"], spec["validity"], spec["validity_ttl"],
                      spec["disclosed_quantity"], spec["market_protection"], spec["tag"], now,
                      USER_ID, parent_gtt=parent_gtt)
        self.orders[order.order_id] = order
        order.record("PUT ORDER REQ RECEIVED", now)
        order.record("VALIDATION PENDING", now)
        if not live:
            order.record("AMO REQ RECEIVED", now)
            return order
        self._open(order, now, epoch)
        return order

    def _open(self, order: Order, now: datetime, epoch: int) -> None:
        reason = self._rms(order, epoch)
        if reason:
            order.record("REJECTED", now, reason)
            self._emit(order)
            return
        order.record("OPEN PENDING", now)
        order.exchange_order_id = f"1100000{order.order_id[-9:]}"
        order.exchange_at = now
        waiting = order.order_type in ("SL", "SL-M")
        order.record("TRIGGER PENDING" if waiting else "OPEN", now)
        order.arrival = order.checked = epoch
        self._emit(order)
        self._match_second(order, epoch)
        if order.validity == "IOC" and order.status not in TERMINAL and not waiting:
            self._cancel_rest(order, now, "Order cancelled: IOC not filled on arrival")

    def _rms(self, order: Order, epoch: int) -> str | None:
        inst = order.inst
        lo, hi = self.market.circuit(inst, epoch)
        for price in (order.price, order.trigger_price):
            if price and price < lo:
                return (f"Your order price is lower than the current lower circuit limit of "
                        f"{rupees(lo)}. Place an order within the daily range.")
            if price and price > hi:
                return (f"Your order price is higher than the current upper circuit limit of "
                        f"{rupees(hi)}. Place an order within the daily range.")
        if order.side == "SELL" and order.product == "CNC":
            if self.portfolio.holding_available(inst) < order.quantity:
                return "Insufficient holdings. Check your holdings or use MIS for intraday."
            return None
        ltp = self.market.ltp(inst, epoch)
        spot = self.market.ltp(self.market.universe.by_token[inst.source], epoch)
        need = margin_required(inst, order.side, order.product, order.quantity,
                               order.price or ltp, spot)
        avail = self.portfolio.available(self.blocked_margin_excluding(order))
        if need > avail:
            return (f"Insufficient funds. Required margin is {need / 100:.2f} but available "
                    f"margin is {max(avail, 0) / 100:.2f}. Check the orderbook for open orders.")
        return None

    def blocked_margin_excluding(self, order: Order) -> int:
        saved, order.cancelled = order.cancelled, order.quantity - order.filled
        try:
            return self.blocked_margin()
        finally:
            order.cancelled = saved

    def modify(self, variety: str, order_id: str, form: dict) -> Order:
        order = self.get(order_id)
        if order.variety != variety:
            raise InputException("Order variety does not match.")
        if order.status in TERMINAL:
            raise OrderException(f"Order cannot be modified as it is {order.status.lower()}.")
        if order.modifications >= MAX_MODIFICATIONS:
            raise OrderException("Maximum allowed order modifications exceeded.")
        now, epoch = self._now()
        if form.get("order_type"):
            order.order_type = form["order_type"]
        if form.get("quantity") not in (None, ""):
            qty = check_quantity(order.inst, int(float(form["quantity"])))
            if qty <= order.filled:
                raise OrderException("Quantity must be more than the filled quantity.")
            order.quantity = qty
        if form.get("price") not in (None, "") and order.order_type in ("LIMIT", "SL"):
            order.price = round(float(form["price"]) * 100)
            check_price(order.inst, order.price, "price")
        if form.get("trigger_price") not in (None, "") and order.order_type in ("SL", "SL-M"):
            order.trigger_price = round(float(form["trigger_price"]) * 100)
            check_price(order.inst, order.trigger_price, "trigger price")
        if order.order_type in ("MARKET", "LIMIT"):
            order.trigger_price = 0 if order.order_type == "LIMIT" else order.trigger_price
        if order.order_type in ("MARKET", "SL-M"):
            order.price = 0
        if form.get("validity"):
            order.validity = form["validity"]
        order.modifications += 1
        if order.status == "AMO REQ RECEIVED":
            order.record("AMO REQ RECEIVED", now)
            self._emit(order, "UPDATE")
            return order
        for status in ("MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED"):
            order.record(status, now)
        waiting = order.order_type in ("SL", "SL-M") and not order.triggered
        order.record("TRIGGER PENDING" if waiting else "OPEN", now)
        order.arrival = order.checked = epoch
        self._emit(order, "UPDATE")
        self._match_second(order, epoch)
        return order

    def cancel(self, variety: str, order_id: str) -> Order:
        order = self.get(order_id)
        if order.status in TERMINAL:
            raise OrderException(f"Order cannot be cancelled as it is {order.status.lower()}.")
        now, _ = self._now()
        order.record("CANCEL PENDING", now)
        self._cancel_rest(order, now, None)
        return order

    def _cancel_rest(self, order: Order, now: datetime, message: str | None) -> None:
        order.cancelled = order.quantity - order.filled
        order.record("CANCELLED", now, message)
        self._emit(order)

    # --- matching ------------------------------------------------------------------------
    def advance(self) -> None:
        """Process every simulated second up to now for all working orders."""
        now, epoch = self._now()
        for order in list(self.orders.values()):
            if order.status == "AMO REQ RECEIVED":
                self._maybe_release_amo(order, epoch)
            if order.status in ("OPEN", "TRIGGER PENDING"):
                self._scan(order, epoch)
                if order.status not in TERMINAL:
                    placed = order.exchange_at
                    close = session_close(placed.astimezone(IST).date()) if placed else None
                    if close is not None and now >= close:
                        self._cancel_rest(order, close, "Order cancelled at end of day.")

    def _maybe_release_amo(self, order: Order, epoch: int) -> None:
        day = order.placed_at.astimezone(IST).date()
        opens = session_open(day)
        if order.placed_at >= opens:
            opens = session_open(next_trading_day(day))
        if epoch >= opens.timestamp():
            self._open(order, opens, int(opens.timestamp()))

    def chunks(self, inst: Instrument, a: int, b: int) -> Iterator[tuple[Block, int, int, int]]:
        """Live session seconds in [a, b] as (block, k0, k1, epoch of k0)."""
        t = a
        while t <= b:
            where = self.market.locate(t)
            if not where.live:  # closed, or in a DR session's break
                t = int(next_open(datetime.fromtimestamp(t, IST)).timestamp())
                continue
            m, k = divmod(where.second, 60)
            k1 = min(59, k + (b - t))
            yield self.market.block(inst, where.day, m), k, k1, t
            t += k1 - k + 1

    def _match_second(self, order: Order, epoch: int) -> None:
        self._scan_range(order, epoch, epoch)

    def _scan(self, order: Order, epoch: int) -> None:
        if epoch > order.checked:
            self._scan_range(order, order.checked + 1, epoch)
            order.checked = epoch

    def _scan_range(self, order: Order, a: int, b: int) -> None:
        for blk, k0, k1, t0 in self.chunks(order.inst, a, b):
            prices = blk.price[k0:k1 + 1]
            if order.status == "TRIGGER PENDING":
                hit = prices >= order.trigger_price if order.side == "BUY" \
                    else prices <= order.trigger_price
                idx = np.flatnonzero(hit)
                if not len(idx):
                    continue
                k0 += int(idx[0])
                t0 += int(idx[0])
                prices = blk.price[k0:k1 + 1]
                order.triggered = True
                order.arrival = t0
                order.record("OPEN", datetime.fromtimestamp(t0, UTC))
                self._emit(order, "UPDATE")
            if order.effective_type == "MARKET":
                idx = np.arange(len(prices))
            elif order.side == "BUY":
                idx = np.flatnonzero(prices <= order.price)
            else:
                idx = np.flatnonzero(prices >= order.price)
            for i in idx.tolist():
                k = k0 + i
                at = t0 + i
                price = int(blk.price[k])  # the trade price; the book's ask sits on it
                if order.effective_type == "LIMIT" and at != order.arrival:
                    price = order.price  # a resting order trades at its own price
                elif order.side == "SELL":
                    # an arriving sell hits the best bid, one tick under the trade price
                    # (market.book); a limit sell never below its limit
                    price -= order.inst.tick
                    if order.effective_type == "LIMIT":
                        price = max(price, order.price)
                lot = max(order.inst.lot_size, 1)
                cap = max(lot, int(blk.qty[k]) * 10 // lot * lot)
                self._fill(order, min(order.pending, cap), price, at)
                if order.status in TERMINAL:
                    return

    def _fill(self, order: Order, qty: int, price: int, at_epoch: int) -> None:
        at = datetime.fromtimestamp(at_epoch, UTC)
        self._trade_seq += 1
        order.fills.append(Fill(f"{self._trade_seq:08d}", qty, price, at))
        order.filled += qty
        order.fill_value += qty * price
        self.portfolio.fill(order.inst, order.product, order.side, qty, price)
        if order.pending == 0:
            order.record("COMPLETE", at)
            self._emit(order)
        else:
            order.record("OPEN", at)
            self._emit(order, "UPDATE")

    # --- views ---------------------------------------------------------------------------
    def trades(self, order: Order | None = None) -> list[dict]:
        orders = [order] if order else list(self.orders.values())
        out = []
        for o in orders:
            for f in o.fills:
                stamp = f.at.astimezone(IST)
                out.append({
                    "trade_id": f.trade_id, "order_id": o.order_id,
                    "exchange_order_id": o.exchange_order_id, "exchange": o.inst.exchange,
                    "tradingsymbol": o.inst.tradingsymbol, "instrument_token": o.inst.token,
                    "product": o.product, "average_price": rupees(f.price), "quantity": f.qty,
                    "transaction_type": o.side,
                    "fill_timestamp": stamp.strftime("%Y-%m-%d %H:%M:%S"),
                    "order_timestamp": stamp.strftime("%H:%M:%S"),
                    "exchange_timestamp": stamp.strftime("%Y-%m-%d %H:%M:%S"),
                })
        return out
