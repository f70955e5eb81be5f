"""The charges of one fill in int64 for numba (the backtester's fast path): a segment's rates
as integer numerators (`rate_vector`) and `fill_charges_int`, equal to `charges(...).total`.
Apart from mandi/core/charges.py so that pricing a fill (the execution service, at every
process start) does not load numba, ~0.5 s of CPU."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
from numba import njit

from mandi.core.charges import Segment, rates

RATE_FIELDS = ("brok_num", "brok_cap", "brok_flat", "stt_buy_num", "stt_sell_num", "txn_num",
               "sebi_num", "stamp_num", "gst_num")
RATE_DEN = 10**9  # every percentage above is an exact multiple of 1e-7 %, i.e. of 1e-9


def rate_vector(segment: Segment | str, on_date: date, exchange: str = "NSE") -> np.ndarray:
    """The segment's rates as int64 numerators over RATE_DEN (fractions, not %), for numba."""
    r = rates(segment, on_date, exchange)

    def num(pct: Decimal) -> int:
        v = pct / 100 * RATE_DEN
        if v != v.to_integral_value():
            raise ValueError(f"rate {pct}% is not a multiple of 1e-7 %")
        return int(v)

    cap = r.brokerage_cap_paise if r.brokerage_cap_paise is not None else -1
    return np.array([num(r.brokerage_pct), cap, r.brokerage_flat_paise, num(r.stt_buy_pct),
                     num(r.stt_sell_pct), num(r.txn_pct[exchange]), num(r.sebi_pct),
                     num(r.stamp_buy_pct), num(r.gst_pct)], dtype=np.int64)


@njit(cache=True)
def _half_up(amount, num):
    return (2 * amount * num + RATE_DEN) // (2 * RATE_DEN)


@njit(cache=True)
def fill_charges_int(rv, is_buy, qty, price_paise):
    """`charges(...).total` for a `rate_vector`, in int64 (exact for one fill below ₹1,000 cr)."""
    turnover = qty * price_paise
    if rv[0] == 0:
        brokerage = rv[2]
    else:
        brokerage = _half_up(turnover, rv[0])
        if rv[1] >= 0 and brokerage > rv[1]:
            brokerage = rv[1]
    stt = _half_up(turnover, rv[3] if is_buy else rv[4])
    txn = _half_up(turnover, rv[5])
    sebi = _half_up(turnover, rv[6])
    stamp = _half_up(turnover, rv[7]) if is_buy else 0
    gst = _half_up(brokerage + txn + sebi, rv[8])
    return brokerage + stt + txn + sebi + stamp + gst
