"""Kite's and the exchanges' admission rules for an order: which order types an instrument
allows, market protection, and what the clock allows (sessions, pre-open, AMO windows, the MIS
cut-off, TTL). Pure functions of the order, the instrument and the IST time; `oms.py` calls them.

Sessions (IST, trading days): pre-open 09:00-09:08 accepts equity orders (matched from 09:15);
normal market 09:15-15:30. AMOs are accepted outside market hours only: equity 16:00-08:58,
F&O 15:45-09:10, never 01:00-05:30 (any day, weekends and holidays included). An AMO goes to
the exchange at 09:00 (equity MARKET/LIMIT, the pre-open) or 09:15 (everything else). Fresh MIS
orders are refused from 15:20 (equity) / 15:25 (F&O); an MIS order that only reduces an open MIS
position is still accepted. Sources: Zerodha support on AMO windows and MIS square-off, Kite
forum on market protection (see the domain review §3).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from mandi.core.calendar import is_market_open, is_trading_day, mis_cutoff, next_trading_day
from mandi.core.clock import IST
from services.kitesim.envelope import InputException
from services.kitesim.universe import Instrument

PREOPEN_START, PREOPEN_END = time(9, 0), time(9, 8)
MARKET_OPEN, MARKET_CLOSE = time(9, 15), time(15, 30)
AMO_BLACKOUT = (time(1, 0), time(5, 30))
# (no AMO from, AMO again from) on a trading day
AMO_CLOSED = {"equity": (time(8, 58), time(16, 0)), "fno": (time(9, 10), time(15, 45))}
NO_PROTECTION = ("Market orders without market protection are not allowed via API. Please set "
                 "market protection or use a Limit order.")


def segment(inst: Instrument) -> str:
    return "equity" if inst.kind == "EQ" else "fno"


def check_order_type(inst: Instrument, order_type: str) -> None:
    """Order types Zerodha blocks: MARKET in stock options (illiquid books); SL-M on BSE/BFO
    (discontinued by BSE) and in every option contract (withdrawn by NSE)."""
    if order_type == "MARKET" and inst.stock_option:
        raise InputException("Market orders are blocked for stock option contracts. Place a "
                             "limit order instead.")
    if order_type == "SL-M" and (inst.kind == "OPT" or inst.exchange in ("BSE", "BFO")):
        raise InputException("SL-M orders are blocked for this contract by the exchange. Use an "
                             "SL (stop-loss limit) order instead.")


def parse_market_protection(raw: object) -> float:
    """Kite's `market_protection`: -1 (automatic), 0 (none, the default) or 1-100 percent."""
    if raw in (None, ""):
        return 0.0
    try:
        value = float(str(raw))
    except ValueError:
        raise InputException("failed to decode market_protection") from None
    if not (value in (-1, 0) or 1 <= value <= 100):
        raise InputException("Invalid `market_protection`: use -1 (automatic) or a percentage "
                             "from 1 to 100.")
    return value


def check_market_protection(order_type: str, protection: float) -> None:
    if order_type in ("MARKET", "SL-M") and protection == 0:
        raise InputException(NO_PROTECTION)


def _at(day: date, t: time) -> datetime:
    return datetime.combine(day, t, IST)


def in_session(now: datetime) -> bool:
    """Inside a session span of the calendar (special sessions keep their own hours)."""
    return is_market_open(now)


def in_preopen(now: datetime) -> bool:
    ist = now.astimezone(IST)
    return is_trading_day(ist.date()) and PREOPEN_START <= ist.time() < PREOPEN_END


def admit_regular(inst: Instrument, validity: str, now: datetime) -> None:
    """A regular order needs the market open, or the pre-open for an equity DAY order."""
    if in_session(now):
        return
    if inst.kind == "EQ" and in_preopen(now):
        if validity != "DAY":
            raise InputException("Only DAY orders are allowed in the pre-open session.")
        return
    raise InputException("Markets are closed right now. Use GTT for placing long standing "
                         "orders instead.")


def admit_amo(inst: Instrument, now: datetime) -> None:
    ist = now.astimezone(IST)
    t = ist.time()
    if AMO_BLACKOUT[0] <= t < AMO_BLACKOUT[1]:
        raise InputException("AMO orders cannot be placed between 01:00 AM and 05:30 AM. Try "
                             "again after 05:30 AM.")
    closed_from, open_from = AMO_CLOSED[segment(inst)]
    if is_trading_day(ist.date()) and closed_from <= t < open_from:
        raise InputException(
            f"AMO orders for this segment can be placed only after {open_from:%H:%M} and before "
            f"{closed_from:%H:%M}. Place a regular order during market hours.")


def mis_cutoff_at(inst: Instrument, now: datetime) -> datetime | None:
    """The MIS cut-off of `now`'s IST day on the instrument's exchange (the calendar's: 15:20
    equity, 15:25 F&O, earlier in a special session), None on a closed day."""
    return mis_cutoff(now.astimezone(IST).date(), inst.exchange)


def admit_mis(inst: Instrument, side: str, quantity: int, open_mis_qty: int,
              now: datetime) -> None:
    """After the MIS cut-off only an order that reduces the open MIS position goes through."""
    cutoff = mis_cutoff_at(inst, now)
    if cutoff is None or now < cutoff:
        return
    against = "SELL" if open_mis_qty > 0 else "BUY"
    reduces = open_mis_qty != 0 and side == against and quantity <= abs(open_mis_qty)
    if not reduces:
        raise InputException(
            f"Fresh MIS orders are blocked after {cutoff:%H:%M} as intraday positions are being "
            "squared off. Use CNC/NRML, or place only exit orders.")


def amo_release(inst: Instrument, order_type: str, placed: datetime) -> datetime:
    """When an AMO goes to the exchange: the first 09:00 (equity MARKET/LIMIT, pre-open) or
    09:15 (everything else) of a trading day after its placement."""
    t = PREOPEN_START if inst.kind == "EQ" and order_type in ("MARKET", "LIMIT") else MARKET_OPEN
    day = placed.astimezone(IST).date()
    if not is_trading_day(day) or _at(day, t) <= placed:
        day = next_trading_day(day)
    return _at(day, t)


def first_live_epoch(epoch: int) -> int:
    """The first second at or after `epoch` when the normal market is open (orders admitted in
    the pre-open, or released there, start matching at 09:15)."""
    ist = datetime.fromtimestamp(epoch, IST)
    day = ist.date()
    if is_trading_day(day) and ist.time() < MARKET_CLOSE:
        return max(epoch, int(_at(day, MARKET_OPEN).timestamp()))
    return int(_at(next_trading_day(day), MARKET_OPEN).timestamp())


def check_ttl(validity: str, ttl: int | None) -> int | None:
    """TTL validity needs `validity_ttl` in whole minutes (1 to 375, a session); others none."""
    if validity != "TTL":
        return None
    if ttl is None or not 1 <= ttl <= 375:
        raise InputException("Invalid `validity_ttl`: TTL orders need 1-375 minutes.")
    return ttl


def ttl_expiry(exchange_at: datetime, ttl: int) -> datetime:
    return exchange_at + timedelta(minutes=ttl)
