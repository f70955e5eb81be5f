"""Broker ids that never repeat after a restart on the same simulated day.

Kite's order ids are `YYMMDD` + a sequence; kitesim used to start that sequence at 1 on every
start, so a restart handed out ids older orders already held (security review S5). The
sequences now start from the wall clock in milliseconds (order ids: × 10, within their nine
digits; trade ids: the same base), so a later start always begins above anything an earlier
run could have issued, unless a run issued more than 10 orders per wall-clock millisecond
(Kite allows 10 per second). The base wraps every ~27 hours of wall time.
"""

from __future__ import annotations

import time

ORDER_SEQ_DIGITS = 9


def _wall_ms() -> int:
    return int(time.time() * 1000) % 10**8


def order_seq_start() -> int:
    """The first order sequence number of this run (9 digits at most)."""
    return _wall_ms() * 10


def trade_seq_start() -> int:
    """The first trade sequence number of this run."""
    return _wall_ms() * 10
