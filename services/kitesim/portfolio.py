"""Positions, holdings, funds and margin requirements (all money in paise internally).

One trading account. Positions are kept per (exchange, tradingsymbol, product) and reported
as both `day` and `net` (the simulator does not roll positions overnight). Holdings start with a
few seeded lots so the endpoint is never empty; CNC buys land in `t1_quantity`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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

    @property
    def net(self) -> int:
        return self.buy_qty - self.sell_qty


@dataclass
class Holding:
    inst: Instrument
    isin: str
    quantity: int
    average: int  # paise
    t1: int = 0
    used: int = 0


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
        if product == "CNC" and inst.kind == "EQ":
            h = self.holdings.get(inst.token)
            if side == "BUY":
                if h is None:
                    h = self.holdings[inst.token] = Holding(inst, "", 0, price)
                total = h.quantity + h.t1
                h.average = (h.average * total + price * qty) // (total + qty)
                h.t1 += qty
            elif h is not None:
                h.used += qty

    def holding_available(self, inst: Instrument) -> int:
        h = self.holdings.get(inst.token)
        return 0 if h is None else h.quantity + h.t1 - h.used

    def realised(self) -> int:
        total = 0
        for p in self.positions.values():
            matched = min(p.buy_qty, p.sell_qty)
            if matched:
                total += matched * (p.sell_value * 1.0 / p.sell_qty - p.buy_value / p.buy_qty)
        return round(total)

    def position_margin(self) -> int:
        used = 0
        for p in self.positions.values():
            if p.net == 0:
                continue
            side = "BUY" if p.net > 0 else "SELL"
            avg = (p.buy_value // p.buy_qty) if p.net > 0 else (p.sell_value // p.sell_qty)
            used += margin_required(p.inst, side, p.product, abs(p.net), avg, avg)
        return used

    # --- Kite shapes -----------------------------------------------------------------------
    def positions_json(self) -> dict:
        rows = [self._position_row(p) for p in self.positions.values()]
        return {"net": rows, "day": [dict(r) for r in rows]}

    def _position_row(self, p: Position) -> dict:
        ltp = self._ltp(p.inst)
        net = p.net
        buy_avg = p.buy_value / p.buy_qty / 100 if p.buy_qty else 0
        sell_avg = p.sell_value / p.sell_qty / 100 if p.sell_qty else 0
        pnl_paise = p.sell_value - p.buy_value + net * ltp
        matched = min(p.buy_qty, p.sell_qty)
        realised = matched * (sell_avg - buy_avg) if matched else 0
        return {
            "tradingsymbol": p.inst.tradingsymbol, "exchange": p.inst.exchange,
            "instrument_token": p.inst.token, "product": p.product, "quantity": net,
            "overnight_quantity": 0, "multiplier": 1,
            "average_price": round(buy_avg if net > 0 else sell_avg if net < 0 else 0, 4),
            "close_price": rupees(self._prev_close(p.inst)), "last_price": rupees(ltp),
            "value": rupees(p.sell_value - p.buy_value), "pnl": rupees(pnl_paise),
            "m2m": rupees(pnl_paise), "unrealised": round(rupees(pnl_paise) - realised, 2),
            "realised": round(realised, 2),
            "buy_quantity": p.buy_qty, "buy_price": round(buy_avg, 4),
            "buy_value": rupees(p.buy_value), "buy_m2m": rupees(p.buy_value),
            "sell_quantity": p.sell_qty, "sell_price": round(sell_avg, 4),
            "sell_value": rupees(p.sell_value), "sell_m2m": rupees(p.sell_value),
            "day_buy_quantity": p.buy_qty, "day_buy_price": round(buy_avg, 4),
            "day_buy_value": rupees(p.buy_value), "day_sell_quantity": p.sell_qty,
            "day_sell_price": round(sell_avg, 4), "day_sell_value": rupees(p.sell_value),
        }

    def holdings_json(self) -> list[dict]:
        out = []
        for h in self.holdings.values():
            ltp, close = self._ltp(h.inst), self._prev_close(h.inst)
            qty = h.quantity + h.t1
            out.append({
                "tradingsymbol": h.inst.tradingsymbol, "exchange": h.inst.exchange,
                "instrument_token": h.inst.token, "isin": h.isin, "product": "CNC",
                "price": 0, "quantity": h.quantity, "used_quantity": h.used,
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
