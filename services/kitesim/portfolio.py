"""Positions, holdings, funds and margin requirements (all money in paise internally).

One trading account. Positions are kept per (instrument, product); `net` includes what was
carried overnight (`overnight_quantity`), `day` only today's trades. Holdings start with a few
seeded lots so the endpoint is never empty. As at Zerodha, a CNC buy shows in positions on its
day and moves to holdings at the day roll: `t1_quantity` on the next trading day, settled into
`quantity` the day after (T+1 settlement). The day roll itself is `services/kitesim/dayroll.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from services.kitesim.envelope import rupees
from services.kitesim.universe import Instrument

OPENING_CASH = 10_00_000 * 100  # ₹10 lakh
SEED_HOLDINGS = (("INFY", 10, 140000, "INE009A01021"), ("RELIANCE", 5, 125000, "INE002A01018"),
                 ("SBIN", 20, 60000, "INE062A01020"))


@dataclass
class Position:
    inst: Instrument
    product: str
    buy_qty: int = 0
    buy_value: int = 0  # paise
    sell_qty: int = 0
    sell_value: int = 0
    overnight: int = 0        # signed quantity carried from earlier days (NRML)
    overnight_value: int = 0  # its cost in paise (|overnight| × carried average)

    @property
    def net(self) -> int:
        return self.overnight + self.buy_qty - self.sell_qty

    @property
    def total_buy(self) -> tuple[int, int]:
        """(quantity, value) bought, the overnight long included (Kite's net row)."""
        if self.overnight > 0:
            return self.buy_qty + self.overnight, self.buy_value + self.overnight_value
        return self.buy_qty, self.buy_value

    @property
    def total_sell(self) -> tuple[int, int]:
        if self.overnight < 0:
            return self.sell_qty - self.overnight, self.sell_value + self.overnight_value
        return self.sell_qty, self.sell_value

    @property
    def day_active(self) -> bool:
        return bool(self.buy_qty or self.sell_qty)


@dataclass
class Holding:
    inst: Instrument
    isin: str
    quantity: int
    average: int  # paise
    t1_lots: list[tuple[date, int]] = field(default_factory=list)  # (bought on, quantity)

    @property
    def t1(self) -> int:
        return sum(q for _, q in self.t1_lots)


def margin_required(inst: Instrument, side: str, product: str, qty: int, price: int,
                    spot: int) -> int:
    """Paise blocked by an order or position: delivery value, leverage, SPAN-like shares."""
    value = price * qty
    if inst.kind == "EQ":
        return value if product == "CNC" else value // 5
    if inst.kind == "FUT":
        return value * (12 if product == "NRML" else 6) // 100
    if side == "BUY":
        return value
    return spot * qty * 15 // 100


class Portfolio:
    def __init__(self, universe_get: Callable[[str, str], Instrument | None],
                 ltp: Callable[[Instrument], int], prev_close: Callable[[Instrument], int]):
        self._ltp = ltp
        self._prev_close = prev_close
        self.cash = OPENING_CASH
        self.positions: dict[tuple[int, str], Position] = {}
        self.holdings: dict[int, Holding] = {}
        for sym, qty, avg, isin in SEED_HOLDINGS:
            inst = universe_get("NSE", sym)
            if inst is not None:
                self.holdings[inst.token] = Holding(inst, isin, qty, avg)

    def fill(self, inst: Instrument, product: str, side: str, qty: int, price: int) -> None:
        pos = self.positions.setdefault((inst.token, product), Position(inst, product))
        if side == "BUY":
            pos.buy_qty += qty
            pos.buy_value += qty * price
        else:
            pos.sell_qty += qty
            pos.sell_value += qty * price

    def sold_from_holding(self, inst: Instrument) -> int:
        """Today's CNC sells beyond today's CNC buys: shares taken from the holding."""
        p = self.positions.get((inst.token, "CNC"))
        return 0 if p is None else max(0, p.sell_qty - p.buy_qty)

    def holding_available(self, inst: Instrument) -> int:
        """What a CNC sell may sell now: the holding (settled + T1) less what was sold from it
        today, plus today's CNC buys not yet sold."""
        h = self.holdings.get(inst.token)
        held = 0 if h is None else h.quantity + h.t1
        p = self.positions.get((inst.token, "CNC"))
        return held + (0 if p is None else p.buy_qty - p.sell_qty)

    def add_holding(self, inst: Instrument, qty: int, average: int, day: date) -> None:
        """Shares arriving in the demat account: T1 on the next trading day, then settled."""
        h = self.holdings.get(inst.token)
        if h is None:
            h = self.holdings[inst.token] = Holding(inst, "", 0, average)
        total = h.quantity + h.t1
        h.average = (h.average * total + average * qty) // (total + qty)
        h.t1_lots.append((day, qty))

    def remove_holding(self, inst: Instrument, qty: int) -> int:
        """Deliver `qty` shares out of the holding (settled first); returns what was there."""
        h = self.holdings.get(inst.token)
        if h is None:
            return 0
        take = min(qty, h.quantity)
        h.quantity -= take
        left = qty - take
        while left and h.t1_lots:
            day, lot = h.t1_lots[0]
            used = min(lot, left)
            left -= used
            h.t1_lots[0] = (day, lot - used)
            if h.t1_lots[0][1] == 0:
                h.t1_lots.pop(0)
        if h.quantity == 0 and not h.t1_lots:
            del self.holdings[inst.token]
        return qty - left

    def settle_t1(self, before: date) -> None:
        """T1 lots bought before `before` are settled into the holding's quantity."""
        for h in self.holdings.values():
            keep = [(d, q) for d, q in h.t1_lots if d >= before]
            h.quantity += sum(q for d, q in h.t1_lots if d < before)
            h.t1_lots = keep

    def realised(self) -> int:
        total = 0
        for p in self.positions.values():
            (bq, bv), (sq, sv) = p.total_buy, p.total_sell
            matched = min(bq, sq)
            if matched:
                total += matched * (sv * 1.0 / sq - bv / bq)
        return round(total)

    def position_margin(self) -> int:
        used = 0
        for p in self.positions.values():
            if p.net == 0:
                continue
            side = "BUY" if p.net > 0 else "SELL"
            (bq, bv), (sq, sv) = p.total_buy, p.total_sell
            avg = (bv // bq) if p.net > 0 else (sv // sq)
            used += margin_required(p.inst, side, p.product, abs(p.net), avg, avg)
        return used

    # --- Kite shapes -----------------------------------------------------------------------
    def positions_json(self) -> dict:
        net = [self._position_row(p) for p in self.positions.values()]
        day = [self._position_row(p, day_only=True) for p in self.positions.values()
               if p.day_active]
        return {"net": net, "day": day}

    def _position_row(self, p: Position, day_only: bool = False) -> dict:
        ltp = self._ltp(p.inst)
        if day_only:
            (bq, bv), (sq, sv), overnight = (p.buy_qty, p.buy_value), \
                (p.sell_qty, p.sell_value), 0
        else:
            (bq, bv), (sq, sv), overnight = p.total_buy, p.total_sell, p.overnight
        net = bq - sq
        buy_avg = bv / bq / 100 if bq else 0
        sell_avg = sv / sq / 100 if sq else 0
        pnl_paise = sv - bv + net * ltp
        matched = min(bq, sq)
        realised = matched * (sell_avg - buy_avg) if matched else 0
        day_buy_avg = p.buy_value / p.buy_qty / 100 if p.buy_qty else 0
        day_sell_avg = p.sell_value / p.sell_qty / 100 if p.sell_qty else 0
        return {
            "tradingsymbol": p.inst.tradingsymbol, "exchange": p.inst.exchange,
            "instrument_token": p.inst.token, "product": p.product, "quantity": net,
            "overnight_quantity": overnight, "multiplier": 1,
            "average_price": round(buy_avg if net > 0 else sell_avg if net < 0 else 0, 4),
            "close_price": rupees(self._prev_close(p.inst)), "last_price": rupees(ltp),
            "value": rupees(sv - bv), "pnl": rupees(pnl_paise),
            "m2m": rupees(pnl_paise), "unrealised": round(rupees(pnl_paise) - realised, 2),
            "realised": round(realised, 2),
            "buy_quantity": bq, "buy_price": round(buy_avg, 4),
            "buy_value": rupees(bv), "buy_m2m": rupees(bv),
            "sell_quantity": sq, "sell_price": round(sell_avg, 4),
            "sell_value": rupees(sv), "sell_m2m": rupees(sv),
            "day_buy_quantity": p.buy_qty, "day_buy_price": round(day_buy_avg, 4),
            "day_buy_value": rupees(p.buy_value), "day_sell_quantity": p.sell_qty,
            "day_sell_price": round(day_sell_avg, 4), "day_sell_value": rupees(p.sell_value),
        }

    def holdings_json(self) -> list[dict]:
        out = []
        for h in self.holdings.values():
            ltp, close = self._ltp(h.inst), self._prev_close(h.inst)
            qty = h.quantity + h.t1
            used = min(self.sold_from_holding(h.inst), qty)
            out.append({
                "tradingsymbol": h.inst.tradingsymbol, "exchange": h.inst.exchange,
                "instrument_token": h.inst.token, "isin": h.isin, "product": "CNC",
                "price": 0, "quantity": h.quantity, "used_quantity": used,
                "t1_quantity": h.t1, "realised_quantity": h.quantity,
                "authorised_quantity": 0, "authorised_date": "", "authorisation": {},
                "opening_quantity": h.quantity, "short_quantity": 0, "collateral_quantity": 0,
                "collateral_type": "", "discrepancy": False,
                "average_price": rupees(h.average), "last_price": rupees(ltp),
                "close_price": rupees(close), "pnl": rupees((ltp - h.average) * qty),
                "day_change": rupees(ltp - close),
                "day_change_percentage": (ltp - close) * 100 / close if close else 0,
                "mtf": {"quantity": 0, "used_quantity": 0, "average_price": 0, "value": 0,
                        "initial_margin": 0},
            })
        return out

    def margins_json(self, blocked_by_orders: int) -> dict:
        realised = self.realised()
        used = self.position_margin() + blocked_by_orders
        net = self.cash + realised - used
        equity = {
            "enabled": True, "net": rupees(net),
            "available": {"adhoc_margin": 0, "cash": rupees(self.cash),
                          "opening_balance": rupees(OPENING_CASH), "live_balance": rupees(net),
                          "collateral": 0, "intraday_payin": 0},
            "utilised": {"debits": rupees(used), "exposure": 0, "m2m_realised": rupees(realised),
                         "m2m_unrealised": 0, "option_premium": 0, "payout": 0,
                         "span": rupees(used), "holding_sales": 0, "turnover": 0,
                         "liquid_collateral": 0, "stock_collateral": 0, "delivery": 0},
        }
        commodity = {
            "enabled": False, "net": 0,
            "available": {k: 0 for k in equity["available"]},
            "utilised": {k: 0 for k in equity["utilised"]},
        }
        return {"equity": equity, "commodity": commodity}

    def available(self, blocked_by_orders: int) -> int:
        return self.cash + self.realised() - self.position_margin() - blocked_by_orders
