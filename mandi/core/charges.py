"""Indian transaction charges (Zerodha), from a dated rate table, in exact integer paise.

One module serves the backtester, the fast path (its int64 form: charges_int), the paper broker
and the execution ledger, so a paper fill and a backtest fill of the same order cost the same.

Rate table. Each revision applies from its effective date until the next one (NSE rates below are
the exchange's own fee; from 2023-04-01 the NSE IPFT levy is added to them, as Zerodha does):

* 2020-07-01 — stamp duty made uniform (Indian Stamp Act amendment); STT futures 0.01 %, options
  0.05 % of premium (sell); NSE txn equity 0.00325 %, futures 0.0019 %, options 0.05 %; BSE equity
  ₹300/cr (0.003 %); SEBI fee halved to ₹5/cr (June 2020 – March 2021, SEBI press release).
* 2021-01-01 — NSE +6 %: equity 0.00345 %, futures 0.002 %, options 0.053 %.
* 2021-04-01 — SEBI fee back to ₹10/cr (0.0001 %).
* 2022-12-01 — BSE equity ₹375/cr (0.00375 %).
* 2023-04-01 — Finance Act 2023: STT futures 0.0125 %, options 0.0625 % (sell). NSE rolls the 6 %
  back (0.00325 / 0.0019 / 0.05 %) and recalibrates its IPFT contribution to ₹10/cr on equity and
  futures, ₹50/cr on options premium (NSE circular of 2023-03-24): 0.00335 / 0.002 / 0.0505 %.
* 2024-10-01 — SEBI "true to label" circular and Finance Act 2024: STT futures 0.02 %, options
  0.1 % of premium; NSE equity 0.00297 %, futures 0.00173 %, options 0.03503 %, with IPFT
  0.00307 / 0.00183 / 0.03553 % (the figures on Zerodha's charges page); BSE equity 0.00375 %,
  futures 0, options 0.0325 %.
* 2026-04-01 — Union Budget 2026: STT futures 0.05 %, options premium 0.15 % (sell).

Common to all: brokerage 0 on equity delivery, min(₹20, 0.03 %) per executed order on intraday
and futures, flat ₹20 per executed order on options; STT 0.1 % both sides on delivery, 0.025 %
sell on intraday; stamp duty on the buy side 0.015 % delivery, 0.003 % intraday, 0.002 % futures,
0.003 % options; GST 18 % on brokerage + exchange transaction charges (IPFT included) + SEBI fee
(+ DP charge). DP charge: ₹13 + GST per scrip per day with a delivery sell. Not modelled: STT on
exercised options, BSE X/XT/Z group and stock-option rates, commodity/currency segments.

Rounding. `charges()` prices one executed order filled at one price: every component is the
exact rational amount rounded half-up to the paisa, GST computed on the already-rounded
brokerage + transaction + SEBI. `day_charges()` prices one scrip's executions under one product on
one day, as a contract note does: brokerage per executed order on that order's whole turnover,
the other components on the day's turnover (so an order filled in several trades pays one
brokerage), and for CNC the quantity bought and sold the same day priced as intraday (Zerodha:
"CNC bought and sold the same day is treated as intraday"). `round_trip_charges()` reproduces
Zerodha's brokerage calculator for a buy and a sell of the same quantity: components on the
combined turnover rounded to the paisa, except STT, which is rounded to the nearest rupee.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import lru_cache

from mandi.core.errors import InvalidInput
from mandi.core.money import paise_to_rupees


class Segment(StrEnum):
    EQUITY_DELIVERY = "equity_delivery"
    EQUITY_INTRADAY = "equity_intraday"
    FUTURES = "futures"
    OPTIONS = "options"


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


D = Decimal


@dataclass(frozen=True)
class SegmentRates:
    """Percentages (Decimal, 0.03 means 0.03 %) and paise amounts for one segment."""

    brokerage_pct: Decimal
    brokerage_cap_paise: int | None  # None: no cap; with pct 0 and flat > 0 → flat per order
    brokerage_flat_paise: int
    stt_buy_pct: Decimal
    stt_sell_pct: Decimal
    txn_pct: dict[str, Decimal]  # by exchange
    sebi_pct: Decimal
    stamp_buy_pct: Decimal
    gst_pct: Decimal


@dataclass(frozen=True)
class Revision:
    effective: date
    source: str
    rates: dict[Segment, SegmentRates]


def _seg(brok_pct, cap, flat, stt_b, stt_s, nse, bse, stamp, sebi) -> SegmentRates:
    return SegmentRates(D(brok_pct), cap, flat, D(stt_b), D(stt_s), {"NSE": D(nse), "BSE": D(bse)},
                        D(sebi), D(stamp), D("18"))


def _table(*, stt_fut: str, stt_opt: str, nse: tuple[str, str, str], ipft: tuple[str, str, str],
           bse_eq: str, sebi: str) -> dict[Segment, SegmentRates]:
    """One revision's rates; NSE txn = exchange fee + IPFT (in %), both dated."""
    eq, fut, opt = (D(fee) + D(levy) for fee, levy in zip(nse, ipft, strict=True))
    return {
        Segment.EQUITY_DELIVERY: _seg("0", None, 0, "0.1", "0.1", eq, bse_eq, "0.015", sebi),
        Segment.EQUITY_INTRADAY: _seg("0.03", 2000, 0, "0", "0.025", eq, bse_eq, "0.003", sebi),
        Segment.FUTURES: _seg("0.03", 2000, 0, "0", stt_fut, fut, "0", "0.002", sebi),
        Segment.OPTIONS: _seg("0", None, 2000, "0", stt_opt, opt, "0.0325", "0.003", sebi),
    }


_NO_IPFT = ("0", "0", "0")  # ₹0.01/cr before 2023-04-01: below a paisa on any real turnover
_IPFT = ("0.0001", "0.0001", "0.0005")  # ₹10/cr equity and futures, ₹50/cr options premium
_NSE_2020 = ("0.00325", "0.0019", "0.05")
_NSE_2021 = ("0.00345", "0.002", "0.053")  # +6 % from 2021-01-01
_NSE_2024 = ("0.00297", "0.00173", "0.03503")
_SEBI_HALF, _SEBI = "0.00005", "0.0001"  # ₹5/cr (Jun 2020 – Mar 2021), ₹10/cr

REVISIONS: tuple[Revision, ...] = (
    Revision(date(2020, 7, 1), "uniform stamp duty; STT F&O 0.01/0.05 %; SEBI fee ₹5/cr",
             _table(stt_fut="0.01", stt_opt="0.05", nse=_NSE_2020, ipft=_NO_IPFT,
                    bse_eq="0.003", sebi=_SEBI_HALF)),
    Revision(date(2021, 1, 1), "NSE transaction charges +6 %",
             _table(stt_fut="0.01", stt_opt="0.05", nse=_NSE_2021, ipft=_NO_IPFT,
                    bse_eq="0.003", sebi=_SEBI_HALF)),
    Revision(date(2021, 4, 1), "SEBI fee back to ₹10/cr",
             _table(stt_fut="0.01", stt_opt="0.05", nse=_NSE_2021, ipft=_NO_IPFT,
                    bse_eq="0.003", sebi=_SEBI)),
    Revision(date(2022, 12, 1), "BSE equity ₹375/cr",
             _table(stt_fut="0.01", stt_opt="0.05", nse=_NSE_2021, ipft=_NO_IPFT,
                    bse_eq="0.00375", sebi=_SEBI)),
    Revision(date(2023, 4, 1), "Finance Act 2023 STT on F&O 0.0125/0.0625 %; NSE 6 % rolled back, "
             "IPFT ₹10/₹50 per cr",
             _table(stt_fut="0.0125", stt_opt="0.0625", nse=_NSE_2020, ipft=_IPFT,
                    bse_eq="0.00375", sebi=_SEBI)),
    Revision(date(2024, 10, 1), "Zerodha charges, revision of 2024-10-01",
             _table(stt_fut="0.02", stt_opt="0.1", nse=_NSE_2024, ipft=_IPFT,
                    bse_eq="0.00375", sebi=_SEBI)),
    Revision(date(2026, 4, 1), "Union Budget 2026 STT on F&O, from 2026-04-01",
             _table(stt_fut="0.05", stt_opt="0.15", nse=_NSE_2024, ipft=_IPFT,
                    bse_eq="0.00375", sebi=_SEBI)),
)

# DP (depository) charge: ₹13 per scrip per day on which holdings are debited (a delivery sell),
# plus GST (₹15.34 in all), levied by Zerodha as CDSL participant.
DP_CHARGE_PAISE = 1300


def revision_on(on_date: date) -> Revision:
    found = None
    for rev in REVISIONS:
        if rev.effective <= on_date:
            found = rev
    if found is None:
        raise InvalidInput(f"no charge table before {REVISIONS[0].effective}", field="on_date")
    return found


def rates(segment: Segment | str, on_date: date, exchange: str = "NSE") -> SegmentRates:
    seg = parse_segment(segment)
    if exchange not in ("NSE", "BSE"):
        raise InvalidInput(f"unknown exchange {exchange!r}", field="exchange")
    return revision_on(on_date).rates[seg]


def parse_segment(segment: Segment | str) -> Segment:
    try:
        return Segment(segment)
    except ValueError:
        raise InvalidInput(f"unknown segment {segment!r}; one of {[s.value for s in Segment]}",
                           field="segment") from None


@dataclass(frozen=True, slots=True)
class ChargeBreakdown:
    """Each component in integer paise."""

    brokerage: int = 0
    stt: int = 0
    exchange_txn: int = 0
    sebi: int = 0
    stamp: int = 0
    gst: int = 0
    dp: int = 0  # depository charge before GST (its GST is in `gst`)

    @property
    def total(self) -> int:
        return (self.brokerage + self.stt + self.exchange_txn + self.sebi + self.stamp + self.gst
                + self.dp)

    def __add__(self, other: ChargeBreakdown) -> ChargeBreakdown:
        return ChargeBreakdown(*(getattr(self, f.name) + getattr(other, f.name)
                                 for f in fields(self)))

    def as_rupees(self) -> dict[str, Decimal]:
        out = {f.name: paise_to_rupees(getattr(self, f.name)) for f in fields(self)}
        out["total"] = paise_to_rupees(self.total)
        return out


@lru_cache(maxsize=256)
def _ratio(pct: Decimal, unit: int) -> tuple[int, int]:
    """pct % per `unit` paise as an exact fraction of integers (numerator, denominator)."""
    num, den = (pct / 100 / unit).as_integer_ratio()
    return num, den


def _pct(amount_paise: int, pct: Decimal, unit: int = 1) -> int:
    """amount × pct % rounded half-up (away from zero at a half) to `unit` paise (1 = paisa,
    100 = rupee), in integers: the same figure as Decimal's ROUND_HALF_UP of the exact amount,
    at a twentieth of its cost (a scrip-day of 2,000 fills prices one per order)."""
    num, den = _ratio(pct, unit)
    magnitude = (2 * abs(amount_paise) * num + den) // (2 * den)
    return (magnitude if amount_paise >= 0 else -magnitude) * unit


def _brokerage(r: SegmentRates, turnover: int) -> int:
    if r.brokerage_pct == 0:
        return r.brokerage_flat_paise
    b = _pct(turnover, r.brokerage_pct)
    return min(b, r.brokerage_cap_paise) if r.brokerage_cap_paise is not None else b


def _check(qty: int, price_paise: int) -> None:
    if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
        raise InvalidInput(f"quantity must be a positive integer, got {qty!r}", field="qty")
    if isinstance(price_paise, bool) or not isinstance(price_paise, int) or price_paise < 0:
        raise InvalidInput(f"price must be non-negative integer paise, got {price_paise!r}",
                           field="price_paise")


def charges(segment: Segment | str, side: Side | str, qty: int, price_paise: int,
            on_date: date, exchange: str = "NSE") -> ChargeBreakdown:
    """Charges for one executed order filled at one price (no DP charge: see day_charges)."""
    _check(qty, price_paise)
    side = _side(side)
    r = rates(segment, on_date, exchange)
    turnover = qty * price_paise
    brokerage = _brokerage(r, turnover)
    stt = _pct(turnover, r.stt_buy_pct if side is Side.BUY else r.stt_sell_pct)
    txn = _pct(turnover, r.txn_pct[exchange])
    sebi = _pct(turnover, r.sebi_pct)
    stamp = _pct(turnover, r.stamp_buy_pct) if side is Side.BUY else 0
    gst = _pct(brokerage + txn + sebi, r.gst_pct)
    return ChargeBreakdown(brokerage, stt, txn, sebi, stamp, gst)


@dataclass(frozen=True, slots=True)
class Execution:
    """One trade (fill) as `day_charges` sees it: the order it belongs to, side, quantity, price."""

    order_id: str
    side: Side | str
    qty: int
    price_paise: int


_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}


def _side(side: Side | str) -> Side:
    found = _SIDES.get(side) if isinstance(side, str) else None
    if found is None:
        raise InvalidInput(f"side must be BUY or SELL, got {side!r}", field="side")
    return found


def _cnc_split(executions: list[Execution]) -> list[tuple[Segment, Side, str, int]]:
    """(segment, side, order, turnover) pieces of one CNC scrip-day: the quantity bought and sold
    the same day, min(bought, sold), is intraday, matched first-in-first-out on each side in the
    order given; the rest is delivery."""
    bought = sum(e.qty for e in executions if _side(e.side) is Side.BUY)
    sold = sum(e.qty for e in executions if _side(e.side) is Side.SELL)
    left = {Side.BUY: min(bought, sold), Side.SELL: min(bought, sold)}
    out = []
    for e in executions:
        side = _side(e.side)
        same_day = min(e.qty, left[side])
        left[side] -= same_day
        if same_day:
            out.append((Segment.EQUITY_INTRADAY, side, e.order_id, same_day * e.price_paise))
        if e.qty > same_day:
            out.append((Segment.EQUITY_DELIVERY, side, e.order_id,
                        (e.qty - same_day) * e.price_paise))
    return out


def day_charges(segment: Segment | str, executions: list[Execution], on_date: date,
                exchange: str = "NSE") -> ChargeBreakdown:
    """Charges of one scrip's executions under one product on one IST trading day.

    Brokerage is per executed order, on the order's whole turnover (an order filled in several
    trades pays one ₹20 cap, options one flat ₹20); STT, stamp, exchange and SEBI charges are on
    the day's turnover (by side where the rate is by side), each rounded half-up to the paisa.
    `segment` is the one the product implies; for equity_delivery (CNC) the quantity bought and
    sold the same day is priced as equity_intraday, and a day with a delivery sell pays the DP
    charge once. The ledger books each fill the difference this makes to its day's total, so the
    day's fills add up to exactly this.
    """
    seg = parse_segment(segment)
    for e in executions:
        _check(e.qty, e.price_paise)
    if seg is Segment.EQUITY_DELIVERY:
        pieces = _cnc_split(executions)
    else:
        pieces = [(seg, _side(e.side), e.order_id, e.qty * e.price_paise) for e in executions]
    by_order: dict[tuple[Segment, str], int] = {}
    by_side: dict[tuple[Segment, Side], int] = {}
    for s, side, order_id, turnover in pieces:
        by_order[s, order_id] = by_order.get((s, order_id), 0) + turnover
        by_side[s, side] = by_side.get((s, side), 0) + turnover
    table = {s: rates(s, on_date, exchange) for s in {s for s, _ in by_side}}
    brokerage = sum(_brokerage(table[s], t) for (s, _), t in by_order.items())
    stt = stamp = txn = sebi = 0
    for s, r in table.items():
        buy, sell = by_side.get((s, Side.BUY), 0), by_side.get((s, Side.SELL), 0)
        stt += _pct(buy, r.stt_buy_pct) + _pct(sell, r.stt_sell_pct)
        stamp += _pct(buy, r.stamp_buy_pct)
        txn += _pct(buy + sell, r.txn_pct[exchange])
        sebi += _pct(buy + sell, r.sebi_pct)
    dp = DP_CHARGE_PAISE if (Segment.EQUITY_DELIVERY, Side.SELL) in by_side else 0
    gst = _pct(brokerage + txn + sebi + dp, rates(seg, on_date, exchange).gst_pct)
    return ChargeBreakdown(brokerage, stt, txn, sebi, stamp, gst, dp)


def round_trip_charges(segment: Segment | str, qty: int, buy_price_paise: int,
                       sell_price_paise: int, on_date: date,
                       exchange: str = "NSE") -> ChargeBreakdown:
    """Zerodha brokerage-calculator figures for buying and selling `qty` (see module doc)."""
    _check(qty, buy_price_paise)
    _check(qty, sell_price_paise)
    r = rates(segment, on_date, exchange)
    buy, sell = qty * buy_price_paise, qty * sell_price_paise
    turnover = buy + sell
    brokerage = _brokerage(r, buy) + _brokerage(r, sell)
    stt_paise = _pct(buy, r.stt_buy_pct) + _pct(sell, r.stt_sell_pct)
    stt = int((D(stt_paise) / 100).quantize(D(1), rounding=ROUND_HALF_UP)) * 100
    txn = _pct(turnover, r.txn_pct[exchange])
    sebi = _pct(turnover, r.sebi_pct)
    stamp = _pct(buy, r.stamp_buy_pct)
    gst = _pct(brokerage + txn + sebi, r.gst_pct)
    return ChargeBreakdown(brokerage, stt, txn, sebi, stamp, gst)


# --- broker auto square-off -------------------------------------------------------------------
AUTO_SQUARE_OFF_FEE_PAISE = 5000  # ₹50 per order Zerodha's RMS squares off (MIS cut-off)
AUTO_SQUARE_OFF_GST_PCT = D("18")


def auto_square_off_charges(orders: int, on_date: date | None = None) -> int:
    """Paise Zerodha debits for `orders` orders its RMS placed to square off MIS positions at
    the intraday cut-off: ₹50 + 18 % GST each = 5,900 paise per order. `on_date` is accepted
    for symmetry with the dated table; the fee has not changed since it was introduced."""
    if isinstance(orders, bool) or not isinstance(orders, int) or orders < 0:
        raise InvalidInput(f"orders must be a non-negative integer, got {orders!r}",
                           field="orders")
    gst = _pct(AUTO_SQUARE_OFF_FEE_PAISE, AUTO_SQUARE_OFF_GST_PCT)
    return orders * (AUTO_SQUARE_OFF_FEE_PAISE + gst)
