"""The order management system: place/modify/cancel, RMS checks, matching against the price
path second by second, trades, and order postbacks.

Matching rules (per simulated second, using the same path the ticker plays):
* MARKET (and SL-M once triggered) fills at the second's last price;
* LIMIT fills when the price crosses: at the last price if marketable on arrival, otherwise at
  the limit price; SL/SL-M wait in TRIGGER PENDING until the price reaches the trigger;
* at most max(lot, 10 × the second's traded quantity) fills per second, so large orders fill
  partially over several seconds (each partial fill is an `UPDATE` postback);
* IOC cancels whatever did not fill on arrival; DAY orders still open at 15:30 are cancelled;
  TTL orders are cancelled `validity_ttl` minutes after they reach the market;
* AMO orders wait in AMO REQ RECEIVED until `rules.amo_release` (09:00 / 09:15); orders that
  reach the exchange before 09:15 (pre-open, released AMOs) start matching at 09:15;
* postbacks follow Kite: none for OPEN/TRIGGER PENDING at placement or for AMOs; REJECTED,
  CANCELLED, COMPLETE, and UPDATE for a modification, a trigger or a partial fill.
Admission rules (sessions, AMO windows, MIS cut-off, market protection) live in `rules.py`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mandi.core.calendar import next_open, session_close
from mandi.core.clock import IST
from services.kitesim import ids, rules, varieties
from services.kitesim.clock import SimClock
from services.kitesim.envelope import InputException, OrderException, rupees
from services.kitesim.market import Block, Market
from services.kitesim.orders import (
    MAX_MODIFICATIONS,
    ORDER_TYPES,
    TERMINAL,
    VALIDITIES,
    VARIETIES,
    Fill,
    Order,
    check_price,
    check_quantity,
    form_int,
    form_paise,
    parse_order_form,
)
from services.kitesim.portfolio import Portfolio, margin_required
from services.kitesim.session import USER_ID
from services.kitesim.universe import Instrument

Listener = Callable[[dict], None]


class OMS:
    def __init__(self, market: Market, clock: SimClock, portfolio: Portfolio,
                 api_secret: str, faults: Any = None) -> None:
        self.market = market
        self.faults = faults  # faults.Faults: `fill_room` caps fills (partial-fill tests)
        self.clock = clock
        self.portfolio = portfolio
        self._secret = api_secret
        self.orders: dict[str, Order] = {}
        self.listeners: list[Listener] = []
        self._seq = ids.order_seq_start()  # never reused by a restart (security review S5)
        self._trade_seq = ids.trade_seq_start()

    # --- helpers -----------------------------------------------------------------------------
    def _now(self) -> tuple[datetime, int]:
        now = self.clock.now()
        epoch = int(now.timestamp())
        return datetime.fromtimestamp(epoch, UTC), epoch

    def _next_id(self, now: datetime) -> str:
        self._seq += 1
        return f"{now.astimezone(IST):%y%m%d}{self._seq:09d}"

    def slice_id(self) -> str:
        """An id for an autoslice request (from the order sequence; not an order itself)."""
        now, _ = self._now()
        return self._next_id(now)

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
        extra = varieties.check(self, variety, form, inst, spec)
        held = self._admit(variety, inst, spec, now)
        order = Order(self._next_id(now), variety, inst, spec["side"], spec["product"],
                      spec["order_type"], varieties.leg_quantity(extra, spec["quantity"]),
                      spec["price"], spec["trigger_price"], spec["validity"],
                      spec["validity_ttl"], spec["disclosed_quantity"],
                      spec["market_protection"], spec["tag"], now, USER_ID,
                      parent_gtt=parent_gtt, **extra)
        self.orders[order.order_id] = order
        order.record("PUT ORDER REQ RECEIVED", now)
        order.record("VALIDATION PENDING", now)
        if held:
            order.record("AMO REQ RECEIVED", now)
            return order
        self._open(order, now, epoch)
        return order

    def spawn(self, parent: Order, **changes) -> Order:
        """A follow-up order the simulator places itself (next iceberg leg, a cover order's
        stop-loss): the parent's fields with `changes`, straight to the exchange."""
        now, epoch = self._now()
        fields = {f: getattr(parent, f) for f in (
            "variety", "inst", "side", "product", "order_type", "quantity", "price",
            "trigger_price", "validity", "validity_ttl", "disclosed_quantity",
            "market_protection", "tag", "iceberg", "co_trigger", "parent_order_id")}
        fields.update(changes)
        order = Order(self._next_id(now), placed_at=now, placed_by=USER_ID, **fields)
        self.orders[order.order_id] = order
        order.record("PUT ORDER REQ RECEIVED", now)
        order.record("VALIDATION PENDING", now)
        self._open(order, now, epoch)
        return order

    def _admit(self, variety: str, inst: Instrument, spec: dict, now: datetime) -> bool:
        """Session rules (`rules.py`); True when the order is an AMO to hold until release."""
        if variety == "amo":
            rules.admit_amo(inst, now)
            return True
        rules.admit_regular(inst, spec["validity"], now)
        if spec["product"] in ("MIS", "CO"):
            pos = self.portfolio.positions.get((inst.token, spec["product"]))
            rules.admit_mis(inst, spec["side"], spec["quantity"], pos.net if pos else 0, now)
        return False

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
        order.arrival = rules.first_live_epoch(epoch)
        order.checked = epoch
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
        new_type = form.get("order_type") or order.order_type
        if new_type not in ORDER_TYPES:
            raise InputException("Invalid `order_type`.")
        rules.check_order_type(order.inst, new_type)
        protection = order.market_protection
        if form.get("market_protection") not in (None, ""):
            protection = rules.parse_market_protection(form["market_protection"])
        rules.check_market_protection(new_type, protection)
        qty = order.quantity
        if form.get("quantity") not in (None, ""):
            qty = check_quantity(order.inst, form_int(form, "quantity"))
            if qty <= order.filled:
                raise OrderException("Quantity must be more than the filled quantity.")
        price, trigger = order.price, order.trigger_price
        if form.get("price") not in (None, "") and new_type in ("LIMIT", "SL"):
            price = form_paise(form, "price", order.inst)
            check_price(order.inst, price, "price")
        if form.get("trigger_price") not in (None, "") and new_type in ("SL", "SL-M"):
            trigger = form_paise(form, "trigger_price", order.inst)
            check_price(order.inst, trigger, "trigger price")
        validity = form.get("validity") or order.validity
        if validity not in VALIDITIES:
            raise InputException("Invalid `validity`.")
        ttl = rules.check_ttl(validity, form_int(form, "validity_ttl") or order.validity_ttl)
        # all checked: apply
        order.order_type, order.market_protection, order.quantity = new_type, protection, qty
        order.price = 0 if new_type in ("MARKET", "SL-M") else price
        order.trigger_price = trigger if new_type in ("SL", "SL-M") else 0
        order.validity, order.validity_ttl = validity, ttl
        order.modifications += 1
        if order.status == "AMO REQ RECEIVED":
            order.record("AMO REQ RECEIVED", now)  # Kite sends no postback for AMOs
            return order
        for status in ("MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED"):
            order.record(status, now)
        waiting = order.order_type in ("SL", "SL-M") and not order.triggered
        order.record("TRIGGER PENDING" if waiting else "OPEN", now)
        order.arrival = rules.first_live_epoch(epoch)
        order.checked = epoch
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
    def advance(self, upto: datetime | None = None) -> None:
        """Process every simulated second up to now (or up to `upto`, when earlier: the day
        roll matches up to each cut-off and close before acting on it) for all working
        orders."""
        now, epoch = self._now()
        if upto is not None and upto < now:
            epoch = int(upto.timestamp())
            now = datetime.fromtimestamp(epoch, UTC)
        for order in list(self.orders.values()):
            if order.status == "AMO REQ RECEIVED":
                self._maybe_release_amo(order, epoch)
            if order.status in ("OPEN", "TRIGGER PENDING"):
                expires = self._ttl_expiry(order)
                self._scan(order, min(epoch, int(expires.timestamp()) - 1) if expires else epoch)
                if expires is not None and order.status not in TERMINAL and now >= expires:
                    self._cancel_rest(order, expires, "Order cancelled: TTL validity expired.")
                if order.status not in TERMINAL:
                    placed = order.exchange_at
                    close = session_close(placed.astimezone(IST).date()) if placed else None
                    if close is not None and now >= close:
                        self._cancel_rest(order, close, "Order cancelled at end of day.")

    @staticmethod
    def _ttl_expiry(order: Order) -> datetime | None:
        if order.validity != "TTL" or not order.validity_ttl or order.exchange_at is None:
            return None
        live = datetime.fromtimestamp(rules.first_live_epoch(int(order.exchange_at.timestamp())),
                                      UTC)
        return rules.ttl_expiry(live, order.validity_ttl)

    def _maybe_release_amo(self, order: Order, epoch: int) -> None:
        release = rules.amo_release(order.inst, order.order_type, order.placed_at)
        if epoch >= release.timestamp():
            self._open(order, release.astimezone(UTC), int(release.timestamp()))

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
                room = self.faults.fill_room(order.quantity, order.filled, lot) \
                    if self.faults is not None else None
                if room is not None:
                    if room == 0:
                        return
                    cap = min(cap, room)
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
            varieties.after_complete(self, order)
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
