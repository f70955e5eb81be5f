"""Mutual funds (Kite's Coin routes): a few direct-plan funds with a deterministic daily NAV,
orders that allot at the NAV of their cut-off day, SIP registrations and MF holdings.

* NAV: `base × 1.0003^(trading days since 2015-01-01)`, 4 decimals, dated that trading day.
* A BUY (by `amount`) blocks the cash at placement (REJECTED "Insufficient fund." when short);
  a SELL (by `quantity`) needs units held. An order placed before the 15:00 IST cut-off of a
  trading day allots at that day's NAV, else at the next trading day's; it stays OPEN until
  21:00 IST of that day, when the NAV is published, then turns COMPLETE (units = amount / NAV,
  3 decimals; a SELL credits quantity × NAV). OPEN orders can be cancelled (cash released).
* SIPs are registered, listed, modified (amount, status active/paused, instalments, frequency,
  instalment_day) and cancelled; their instalments are not executed by the simulator.
Money is integer paise; NAVs are integer 1/10000 rupee ("nav units")."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal

from mandi.core.calendar import is_trading_day, next_trading_day
from mandi.core.clock import IST
from services.kitesim.envelope import InputException
from services.kitesim.orders import kite_time
from services.kitesim.session import USER_ID

NAV_SCALE = 10_000  # NAV in 1/10000 rupee
CUTOFF, NAV_PUBLISHED = time(15, 0), time(21, 0)
FREQUENCIES = ("weekly", "monthly", "quarterly")
MF_CSV_HEADER = ("tradingsymbol,amc,name,purchase_allowed,redemption_allowed,"
                 "minimum_purchase_amount,purchase_amount_multiplier,"
                 "minimum_additional_purchase_amount,minimum_redemption_quantity,"
                 "redemption_quantity_multiplier,dividend_type,scheme_type,plan,"
                 "settlement_type,last_price,last_price_date")


@dataclass(frozen=True)
class Fund:
    tradingsymbol: str  # ISIN, as Kite uses
    amc: str
    name: str
    scheme_type: str
    base_nav: int  # nav units on 2015-01-01
    minimum_purchase: int = 500  # rupees


FUNDS = (
    Fund("INF109K01Z48", "ICICIPrudentialMutualFund_MF", "ICICI Prudential Bluechip Fund - "
         "Direct Plan", "equity", 220_000),
    Fund("INF179K01XQ0", "HDFCMutualFund_MF", "HDFC Balanced Advantage Fund - Direct Plan",
         "balanced", 1_300_000),
    Fund("INF200K01QX4", "SBIMutualFund_MF", "SBI Liquid Fund - Direct Plan", "liquid",
         21_000_000, 5000),
)
_BASE = date(2015, 1, 1)


def nav(fund: Fund, day: date) -> tuple[int, date]:
    """(NAV in nav units, its date): the last trading day on or before `day`."""
    while not is_trading_day(day):
        day -= timedelta(days=1)
    days = sum(1 for i in range((day - _BASE).days + 1) if is_trading_day(_BASE + timedelta(i)))
    value = Decimal(fund.base_nav) * Decimal("1.0003") ** days
    return int(value.quantize(Decimal(1), rounding=ROUND_DOWN)), day


@dataclass
class MFOrder:
    order_id: str
    fund: Fund
    side: str
    amount: int  # paise (BUY)
    quantity: Decimal  # units (SELL; BUY once allotted)
    tag: str | None
    placed: datetime
    allot_day: date
    status: str = "OPEN"
    status_message: str | None = None
    average_nav: int = 0
    settlement_id: str | None = None

    def as_json(self, now: datetime) -> dict:
        last, last_day = nav(self.fund, now.astimezone(IST).date())
        done = self.status == "COMPLETE"
        return {
            "status": self.status, "purchase_type": "FRESH", "folio": "SIM1234567" if done
            else None, "order_timestamp": kite_time(self.placed),
            "average_price": self.average_nav / NAV_SCALE,
            "exchange_order_id": self.order_id[:9] if done else None,
            "last_price": last / NAV_SCALE, "tradingsymbol": self.fund.tradingsymbol,
            "settlement_id": self.settlement_id, "transaction_type": self.side,
            "order_id": self.order_id, "amount": self.amount / 100, "tag": self.tag,
            "placed_by": USER_ID,
            "exchange_timestamp": self.allot_day.isoformat() if done else None,
            "variety": "regular", "last_price_date": last_day.isoformat(),
            "status_message": self.status_message, "fund": self.fund.name,
            "quantity": float(self.quantity),
        }


@dataclass
class SIP:
    sip_id: str
    fund: Fund
    amount: int  # paise
    instalments: int
    frequency: str
    instalment_day: int
    tag: str | None
    created: datetime
    status: str = "ACTIVE"

    def as_json(self, now: datetime) -> dict:
        return {
            "sip_id": self.sip_id, "tradingsymbol": self.fund.tradingsymbol,
            "fund": self.fund.name, "dividend_type": "growth", "transaction_type": "BUY",
            "status": self.status, "sip_type": "sip", "created": kite_time(self.created),
            "frequency": self.frequency, "instalment_amount": self.amount / 100,
            "instalments": self.instalments, "last_instalment": kite_time(self.created),
            "pending_instalments": self.instalments, "instalment_day": self.instalment_day,
            "completed_instalments": 0,
            "next_instalment": self._next(now).isoformat(), "trigger_price": 0,
            "step_up": {}, "sip_reg_num": None, "tag": self.tag,
        }

    def _next(self, now: datetime) -> date:
        day = now.astimezone(IST).date()
        if self.frequency == "weekly":
            return day + timedelta(days=7)
        months = 1 if self.frequency == "monthly" else 3
        y, m = divmod(day.month - 1 + months, 12)
        return date(day.year + y, m + 1, min(max(self.instalment_day, 1), 28))


@dataclass
class MFBook:
    orders: dict[str, MFOrder] = field(default_factory=dict)
    sips: dict[str, SIP] = field(default_factory=dict)
    units: dict[str, Decimal] = field(default_factory=dict)  # tradingsymbol → units held
    cost: dict[str, int] = field(default_factory=dict)  # paise invested (average cost)
    seq: int = 0

    @staticmethod
    def fund(tradingsymbol: str) -> Fund:
        for f in FUNDS:
            if f.tradingsymbol == tradingsymbol:
                return f
        raise InputException("Invalid `tradingsymbol`: not a mutual fund on this platform.")

    def place(self, form: dict, now: datetime, cash_available: int) -> tuple[MFOrder, int]:
        """A new order and the paise it takes from cash now (BUY: amount; else 0)."""
        fund = self.fund(str(form.get("tradingsymbol") or ""))
        side = form.get("transaction_type")
        if side not in ("BUY", "SELL"):
            raise InputException("Invalid `transaction_type`.")
        amount, qty = 0, Decimal(0)
        if side == "BUY":
            amount = _paise(form, "amount")
            if amount < fund.minimum_purchase * 100:
                raise InputException(f"Invalid `amount`: the minimum purchase is "
                                     f"{fund.minimum_purchase}.")
        else:
            qty = _units(form, "quantity")
            if qty > self.units.get(fund.tradingsymbol, Decimal(0)):
                raise InputException("Invalid `quantity`: more units than held.")
        ist = now.astimezone(IST)
        day = ist.date()
        if not is_trading_day(day) or ist.time() >= CUTOFF:
            day = next_trading_day(day)
        order = MFOrder(str(uuid.UUID(int=self._next())), fund, side, amount, qty,
                        form.get("tag") or None, now, day)
        self.orders[order.order_id] = order
        if side == "BUY" and amount > cash_available:
            order.status, order.status_message = "REJECTED", "Insufficient fund."
            return order, 0
        if side == "SELL":
            self.units[fund.tradingsymbol] -= qty
        return order, amount

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def get(self, order_id: str) -> MFOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise InputException("Invalid `order_id`.")
        return order

    def cancel(self, order_id: str) -> int:
        """Cancel an OPEN order; the paise to give back to cash."""
        order = self.get(order_id)
        if order.status != "OPEN":
            raise InputException(f"Order cannot be cancelled as it is {order.status}.")
        order.status = "CANCELLED"
        if order.side == "SELL":
            self.units[order.fund.tradingsymbol] += order.quantity
        return order.amount

    def advance(self, now: datetime) -> int:
        """Allot orders whose NAV is out; the paise SELLs credit to cash."""
        credit = 0
        for order in self.orders.values():
            if order.status != "OPEN" or now < datetime.combine(order.allot_day, NAV_PUBLISHED,
                                                                IST):
                continue
            value, _ = nav(order.fund, order.allot_day)
            order.average_nav, order.status = value, "COMPLETE"
            order.settlement_id = f"{order.allot_day:%y%m%d}1"
            sym = order.fund.tradingsymbol
            if order.side == "BUY":
                order.quantity = (Decimal(order.amount) * NAV_SCALE / 100 / value).quantize(
                    Decimal("0.001"), rounding=ROUND_DOWN)
                self.units[sym] = self.units.get(sym, Decimal(0)) + order.quantity
                self.cost[sym] = self.cost.get(sym, 0) + order.amount
            else:
                proceeds = int(order.quantity * value * 100 / NAV_SCALE)
                held = self.units.get(sym, Decimal(0)) + order.quantity
                self.cost[sym] = int(self.cost.get(sym, 0) * (held - order.quantity) / held) \
                    if held else 0
                credit += proceeds
        return credit

    def holdings(self, now: datetime) -> list[dict]:
        out = []
        for sym, units in self.units.items():
            if units <= 0:
                continue
            fund = self.fund(sym)
            last, last_day = nav(fund, now.astimezone(IST).date())
            cost = self.cost.get(sym, 0)
            value = int(units * last * 100 / NAV_SCALE)
            out.append({"folio": "SIM1234567", "fund": fund.name, "tradingsymbol": sym,
                        "average_price": round(cost / 100 / float(units), 4),
                        "last_price": last / NAV_SCALE,
                        "last_price_date": last_day.isoformat(), "pledged_quantity": 0,
                        "pnl": round((value - cost) / 100, 2), "quantity": float(units)})
        return out

    def place_sip(self, form: dict, now: datetime) -> SIP:
        fund = self.fund(str(form.get("tradingsymbol") or ""))
        amount = _paise(form, "amount")
        if amount < fund.minimum_purchase * 100:
            raise InputException(f"Invalid `amount`: the minimum is {fund.minimum_purchase}.")
        sip = SIP(f"{self._next() + 800000000000000}", fund, amount,
                  _count(form, "instalments", 1, 9999), _frequency(form),
                  _count(form, "instalment_day", 1, 28, default=1), form.get("tag") or None,
                  now)
        self.sips[sip.sip_id] = sip
        return sip

    def get_sip(self, sip_id: str) -> SIP:
        sip = self.sips.get(sip_id)
        if sip is None or sip.status == "CANCELLED":
            raise InputException("Invalid `sip_id`.")
        return sip

    def modify_sip(self, sip_id: str, form: dict) -> SIP:
        sip = self.get_sip(sip_id)
        if form.get("amount") not in (None, ""):
            sip.amount = _paise(form, "amount")
        if form.get("instalments") not in (None, ""):
            sip.instalments = _count(form, "instalments", 1, 9999)
        if form.get("frequency") not in (None, ""):
            sip.frequency = _frequency(form)
        if form.get("instalment_day") not in (None, ""):
            sip.instalment_day = _count(form, "instalment_day", 1, 28)
        if form.get("status") not in (None, ""):
            if form["status"] not in ("active", "paused"):
                raise InputException("Invalid `status`: active or paused.")
            sip.status = form["status"].upper()
        return sip

    def cancel_sip(self, sip_id: str) -> str:
        self.get_sip(sip_id).status = "CANCELLED"
        return sip_id

    def csv(self, today: date) -> str:
        rows = [MF_CSV_HEADER]
        for f in FUNDS:
            value, day = nav(f, today)
            rows.append(",".join((
                f.tradingsymbol, f.amc, f'"{f.name}"', "1", "1", f"{f.minimum_purchase:.1f}",
                "1.0", "1000.0", "0.001", "0.001", "growth", f.scheme_type, "direct",
                "T1" if f.scheme_type != "liquid" else "T0", f"{value / NAV_SCALE:.4f}",
                day.isoformat())))
        return "\n".join(rows) + "\n"


def _paise(form: dict, name: str) -> int:
    try:
        value = Decimal(str(form.get(name) or ""))
    except ArithmeticError:
        raise InputException(f"Invalid `{name}`.") from None
    if not value.is_finite() or value <= 0:
        raise InputException(f"Invalid `{name}`.")
    return int(value * 100)


def _units(form: dict, name: str) -> Decimal:
    try:
        value = Decimal(str(form.get(name) or ""))
    except ArithmeticError:
        raise InputException(f"Invalid `{name}`.") from None
    if not value.is_finite() or value <= 0:
        raise InputException(f"Invalid `{name}`.")
    return value.quantize(Decimal("0.001"), rounding=ROUND_DOWN)


def _count(form: dict, name: str, lo: int, hi: int, default: int | None = None) -> int:
    raw = form.get(name)
    if raw in (None, "") and default is not None:
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise InputException(f"Invalid `{name}`.") from None
    if not lo <= value <= hi:
        raise InputException(f"Invalid `{name}`: {lo} to {hi}.")
    return value


def _frequency(form: dict) -> str:
    value = form.get("frequency")
    if value not in FREQUENCIES:
        raise InputException(f"Invalid `frequency`: one of {', '.join(FREQUENCIES)}.")
    return value
