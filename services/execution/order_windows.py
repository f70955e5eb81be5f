"""When an order is accepted, by IST wall time, as Zerodha applies it.

* Normal market 09:15-15:30 on a trading day: regular orders of every segment.
* Equity pre-open 09:00-09:08: regular equity (NSE/BSE) orders are taken and go into the
  pre-open call auction. 09:08-09:15 is the matching buffer: nothing new is taken.
* After-market orders (variety amo) only in their windows: equity 16:00-08:58, F&O 15:45-09:10,
  and never 01:00-05:30 (Zerodha's maintenance). On a weekend or holiday the whole day is
  outside market hours, so only the 01:00-05:30 blackout applies.
* MIS cut-off: Zerodha squares MIS positions off at 15:20 (equity) and 15:25 (F&O) and refuses
  fresh MIS orders from then on; an order that only reduces a position is still taken.

Sources: review domain.md §2.7, §2.8 and §3.22 ([K5] Zerodha AMO article, [C10] MIS square-off).
"""

from __future__ import annotations

from datetime import datetime, time

from mandi.core.calendar import (
    SESSION_CLOSE,
    SESSION_OPEN,
    is_market_open,
    is_trading_day,
    mis_cutoff,
)
from mandi.core.clock import to_ist

PRE_OPEN = (time(9, 0), time(9, 8))
# (opens, closes the next morning); keyed by "is a derivative"
AMO_WINDOWS = {False: (time(16, 0), time(8, 58)), True: (time(15, 45), time(9, 10))}
AMO_BLACKOUT = (time(1, 0), time(5, 30))


def _hm(t: time) -> str:
    return t.strftime("%H:%M")


def refusal(*, variety: str, product: str, derivative: bool, reducing: bool,
            now: datetime) -> tuple[str, str] | None:
    """(rule, reason) when the order is not accepted at `now`, else None."""
    local = to_ist(now)
    tod, trading = local.time(), is_trading_day(local.date())
    segment = "F&O" if derivative else "equity"
    if variety == "amo":
        return _amo(tod, trading, derivative, segment)
    in_session = is_market_open(now)  # the calendar's spans: special sessions have their own
    if in_session:
        cutoff = mis_cutoff(local.date(), "NFO" if derivative else "NSE").time()  # the calendar's
        if product == "MIS" and tod >= cutoff and not reducing:
            return ("mis_cutoff", f"fresh {segment} MIS orders are refused after the MIS "
                    f"cut-off at {_hm(cutoff)} IST (Zerodha squares MIS off then); use CNC/NRML "
                    "or only reduce the position")
        return None
    if trading and not derivative and PRE_OPEN[0] <= tod < PRE_OPEN[1]:
        return None
    if trading and not derivative and PRE_OPEN[1] <= tod < SESSION_OPEN:
        return ("market_hours", f"the pre-open order window closed at {_hm(PRE_OPEN[1])} IST; "
                f"the market opens at {_hm(SESSION_OPEN)} IST")
    return ("market_hours", f"the market is closed (normal market {_hm(SESSION_OPEN)}-"
            f"{_hm(SESSION_CLOSE)} IST on trading days, equity pre-open {_hm(PRE_OPEN[0])}-"
            f"{_hm(PRE_OPEN[1])}); use variety amo in its window")


def _amo(tod: time, trading: bool, derivative: bool, segment: str) -> tuple[str, str] | None:
    if AMO_BLACKOUT[0] <= tod < AMO_BLACKOUT[1]:
        return ("amo_window", f"AMOs are not accepted between {_hm(AMO_BLACKOUT[0])} and "
                f"{_hm(AMO_BLACKOUT[1])} IST")
    if not trading:
        return None
    opens, closes = AMO_WINDOWS[derivative]
    if tod >= opens or tod < closes:
        return None
    return ("amo_window", f"{segment} AMOs are accepted from {_hm(opens)} to {_hm(closes)} IST "
            "(next morning); during market hours place a regular order")
