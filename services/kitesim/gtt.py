"""Good-till-triggered orders: single and two-leg (OCO) triggers that place a LIMIT order when
the last price crosses a trigger value.

* single: fires when the price reaches the trigger from the side of `condition.last_price`;
* two-leg: `orders[0]` fires when the price falls to the lower trigger (stop-loss),
  `orders[1]` when it rises to the upper one (target). Whichever fires first wins.
Triggers are scanned second by second on the same path as orders (see oms.OMS.chunks).

Zerodha's rules on create and modify: every trigger at least 0.25 % away from the live last
price (9 paise for stocks below ₹50), and at most 250 active GTTs per account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from services.kitesim.envelope import InputException, KiteError
from services.kitesim.oms import OMS
from services.kitesim.orders import kite_time
from services.kitesim.session import USER_ID
from services.kitesim.universe import Instrument

MAX_ACTIVE = 250
MIN_GAP_BP = 25  # 0.25 % in basis points
LOW_PRICE_PAISE, LOW_PRICE_GAP = 5000, 9  # below ₹50 the minimum distance is 9 paise


def _paise(value: object, name: str) -> int:
    try:
        return round(float(value) * 100)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InputException(f"Invalid `{name}`.") from None


def min_trigger_gap(ltp: int) -> int:
    """Paise a trigger must keep from the last price: ceil(0.25 %), or 9 below ₹50."""
    return LOW_PRICE_GAP if ltp < LOW_PRICE_PAISE else -(-ltp * MIN_GAP_BP // 10000)


@dataclass
class GTT:
    id: int
    type: str
    inst: Instrument
    triggers: list[int]  # paise, ascending for two-leg
    last_price: int
    legs: list[dict]
    created_at: datetime
    updated_at: datetime
    checked: int
    status: str = "active"
    results: list[dict | None] = field(default_factory=list)

    def as_json(self) -> dict:
        orders = []
        for leg, result in zip(self.legs, self.results, strict=True):
            orders.append({**{k: v for k, v in leg.items() if k != "price"},
                           "price": leg["price"] / 100, "result": result})
        return {
            "id": self.id, "user_id": USER_ID, "parent_trigger": None, "type": self.type,
            "created_at": kite_time(self.created_at), "updated_at": kite_time(self.updated_at),
            "expires_at": kite_time(self.created_at + timedelta(days=365)),
            "status": self.status,
            "condition": {"exchange": self.inst.exchange, "last_price": self.last_price / 100,
                          "tradingsymbol": self.inst.tradingsymbol,
                          "trigger_values": [t / 100 for t in self.triggers],
                          "instrument_token": self.inst.token},
            "orders": orders, "meta": {},
        }


class GTTBook:
    def __init__(self, oms: OMS) -> None:
        self.oms = oms
        self.gtts: dict[int, GTT] = {}
        self._seq = 100000

    def _parse(self, form: dict) -> tuple[str, Instrument, list[int], int, list[dict]]:
        kind = form.get("type")
        if kind not in ("single", "two-leg"):
            raise InputException("Invalid `type`.")
        try:
            cond = json.loads(form.get("condition") or "")
            legs = json.loads(form.get("orders") or "")
        except ValueError:
            raise InputException("Invalid `condition` or `orders`: not JSON.") from None
        if not isinstance(cond, dict):
            raise InputException("Invalid `condition`: expected an object.")
        if not isinstance(legs, list) or not all(isinstance(leg, dict) for leg in legs):
            raise InputException("Invalid `orders`: expected a list of objects.")
        inst = self.oms.market.universe.get(str(cond.get("exchange", "")),
                                            str(cond.get("tradingsymbol", "")))
        if inst is None or not inst.tradable:
            raise InputException("Invalid `tradingsymbol`.")
        values = cond.get("trigger_values") or []
        triggers = [_paise(v, "trigger_values") for v in
                    (values if isinstance(values, list) else [values])]
        want = 1 if kind == "single" else 2
        if len(triggers) != want or len(legs) != want:
            raise InputException(f"A {kind} GTT needs {want} trigger value(s) and order(s).")
        if kind == "two-leg" and not triggers[0] < triggers[1]:
            raise InputException("Lower trigger must be below the upper trigger.")
        parsed = []
        for leg in legs:
            if leg.get("tradingsymbol") != inst.tradingsymbol:
                raise InputException("GTT orders must be for the condition's instrument.")
            try:
                qty = int(leg.get("quantity") or 0)
            except (TypeError, ValueError):
                raise InputException("Invalid `quantity` in `orders`.") from None
            parsed.append({
                "exchange": inst.exchange, "tradingsymbol": inst.tradingsymbol,
                "product": leg.get("product"), "order_type": leg.get("order_type", "LIMIT"),
                "transaction_type": leg.get("transaction_type"), "quantity": qty,
                "price": _paise(leg.get("price") or 0, "price"),
            })
        last = _paise(cond.get("last_price") or 0, "last_price")
        return kind, inst, triggers, last, parsed

    def _check_distance(self, inst: Instrument, triggers: list[int], epoch: int) -> None:
        ltp = self.oms.market.ltp(inst, epoch)
        gap = min_trigger_gap(ltp)
        for trig in triggers:
            if abs(trig - ltp) < gap:
                raise InputException(
                    f"Trigger price {trig / 100:.2f} is too close to the last price "
                    f"{ltp / 100:.2f}. Keep the trigger at least {gap / 100:.2f} "
                    "(0.25%) away from the last price.")

    def create(self, form: dict) -> GTT:
        kind, inst, triggers, last, legs = self._parse(form)
        now, epoch = self.oms._now()
        if sum(g.status == "active" for g in self.gtts.values()) >= MAX_ACTIVE:
            raise InputException(f"You can have at most {MAX_ACTIVE} active GTTs. Delete some "
                                 "before creating new ones.")
        self._check_distance(inst, triggers, epoch)
        self._seq += 1
        last = last or self.oms.market.ltp(inst, epoch)
        gtt = GTT(self._seq, kind, inst, triggers, last, legs, now, now, epoch,
                  results=[None] * len(legs))
        self.gtts[gtt.id] = gtt
        return gtt

    def get(self, gtt_id: int) -> GTT:
        gtt = self.gtts.get(gtt_id)
        if gtt is None:
            raise InputException("Invalid trigger id.")
        return gtt

    def modify(self, gtt_id: int, form: dict) -> GTT:
        gtt = self.get(gtt_id)
        if gtt.status != "active":
            raise InputException(f"Trigger is {gtt.status}; only active triggers can change.")
        kind, inst, triggers, last, legs = self._parse(form)
        now, epoch = self.oms._now()
        self._check_distance(inst, triggers, epoch)
        gtt.type, gtt.inst, gtt.triggers, gtt.legs = kind, inst, triggers, legs
        gtt.last_price = last or gtt.last_price
        gtt.results = [None] * len(legs)
        gtt.updated_at, gtt.checked = now, epoch
        return gtt

    def delete(self, gtt_id: int) -> int:
        gtt = self.get(gtt_id)
        if gtt.status == "deleted":
            raise InputException("Trigger already deleted.")
        if gtt.status != "active":  # Kite: DELETE /gtt/triggers/:id deletes an *active* GTT
            raise InputException(f"Trigger is {gtt.status}; only active triggers can be "
                                 "deleted.")
        gtt.status = "deleted"
        gtt.updated_at, _ = self.oms._now()
        return gtt_id

    def listing(self) -> list[dict]:
        return [g.as_json() for g in self.gtts.values() if g.status != "deleted"]

    def advance(self) -> None:
        _, epoch = self.oms._now()
        for gtt in self.gtts.values():
            if gtt.status != "active" or epoch <= gtt.checked:
                continue
            start, gtt.checked = gtt.checked + 1, epoch
            for blk, k0, k1, t0 in self.oms.chunks(gtt.inst, start, epoch):
                prices = blk.price[k0:k1 + 1]
                leg = self._first_cross(gtt, prices)
                if leg is not None:
                    i, which = leg
                    self._fire(gtt, which, int(prices[i]), t0 + i)
                    break

    @staticmethod
    def _first_cross(gtt: GTT, prices: np.ndarray) -> tuple[int, int] | None:
        if gtt.type == "single":
            trig = gtt.triggers[0]
            hit = prices >= trig if trig >= gtt.last_price else prices <= trig
            idx = np.flatnonzero(hit)
            return (int(idx[0]), 0) if len(idx) else None
        low = np.flatnonzero(prices <= gtt.triggers[0])
        high = np.flatnonzero(prices >= gtt.triggers[1])
        first = [(int(ix[0]), leg) for ix, leg in ((low, 0), (high, 1)) if len(ix)]
        return min(first) if first else None

    def _fire(self, gtt: GTT, leg_ix: int, price: int, at_epoch: int) -> None:
        leg = gtt.legs[leg_ix]
        form = {**{k: str(v) for k, v in leg.items() if k != "price"},
                "price": f"{leg['price'] / 100:.2f}", "validity": "DAY"}
        when = datetime.fromtimestamp(at_epoch, gtt.created_at.tzinfo)
        try:
            order = self.oms.place("regular", form, gtt.inst, parent_gtt=gtt.id)
            ok = order.status != "REJECTED"
            outcome = {"status": "success" if ok else "failed", "order_id": order.order_id,
                       "rejection_reason": "" if ok else (order.status_message or "")}
        except KiteError as exc:
            outcome = {"status": "failed", "order_id": "", "rejection_reason": exc.message}
        gtt.results[leg_ix] = {
            "account_id": USER_ID, "exchange": gtt.inst.exchange,
            "tradingsymbol": gtt.inst.tradingsymbol, "validity": "DAY",
            "product": leg["product"], "order_type": leg["order_type"],
            "transaction_type": leg["transaction_type"], "quantity": leg["quantity"],
            "price": leg["price"] / 100, "meta": json.dumps({"app_id": 1, "gtt": gtt.id}),
            "timestamp": kite_time(when), "triggered_at": price / 100, "order_result": outcome,
        }
        gtt.status = "triggered"
        gtt.updated_at = when
