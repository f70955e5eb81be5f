"""Validation of candles before they are stored.

Why here and vectorised: Kite (and users' old files) occasionally carry bars that would poison
backtests — a high below the low, a bar stamped 16:00 IST, a Saturday, a duplicate. Each check
is one numpy expression over the whole frame, so validating a year of minute bars costs a few
milliseconds. Every rejected row is counted under the *first* reason it fails, in the order of
`REASONS`, so the counts add up to the rows removed and the fetch summary can report them.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from mandi.core.calendar import SESSION_CLOSE, SESSION_OPEN
from mandi.core.candles import CandleFrame, to_ms
from mandi.core.errors import InvalidInput
from mandi.core.intervals import Interval, parse_interval
from services.history.coverage import bar_ends, sessions_of

REASONS = (
    "non-finite value",
    "price below segment minimum",
    "price above segment limit",
    "high < low",
    "open outside low..high",
    "close outside low..high",
    "negative volume",
    "negative oi",
    "in the future",
    "forming bar",
    "misaligned timestamp",
    "not a trading day",
    "outside session",
    "duplicate timestamp",
)

# (lowest valid price, highest valid price) in rupees. Equities trade at ≥ 1 paisa and the
# dearest NSE share is far below ₹1 crore; option premiums can sit at a tick of 5 paise, or
# lower on BFO, so derivatives only need to be positive.
PRICE_LIMITS: dict[str, tuple[float, float]] = {
    "EQUITY": (0.01, 10_000_000.0),
    "DERIVATIVES": (1e-9, 10_000_000.0),
}
_SEGMENT_ALIASES = {"NSE": "EQUITY", "BSE": "EQUITY", "INDICES": "EQUITY",
                    "NFO": "DERIVATIVES", "BFO": "DERIVATIVES"}
_IST_OFFSET_MS = 19_800_000  # +05:30; India has no DST
_DAY_MS = 86_400_000
_OPEN_MIN = SESSION_OPEN.hour * 60 + SESSION_OPEN.minute
_CLOSE_MIN = SESSION_CLOSE.hour * 60 + SESSION_CLOSE.minute


def normalise_segment(segment: str) -> str:
    """EQUITY / DERIVATIVES from a segment or exchange name."""
    seg = str(segment).upper()
    seg = _SEGMENT_ALIASES.get(seg, seg)
    if seg not in PRICE_LIMITS:
        raise InvalidInput(
            f"unknown segment {segment!r}; expected EQUITY or DERIVATIVES", field="segment"
        )
    return seg


def validate(
    frame: CandleFrame,
    *,
    interval: str | Interval,
    segment: str,
    now: datetime,
) -> tuple[CandleFrame, dict[str, int]]:
    """The rows of `frame` fit to store (original order) and {reason: rows rejected}.

    Intraday bars must start inside the session of a trading day (09:15–15:30 IST, or a
    special session's own spans), on the interval's grid from the start of their span; day
    bars at IST midnight of a trading day. A bar must be final by `now`: Kite sends the
    still-forming bar of a session in progress, and storing it would leave a partial bar that
    coverage counts as present ("forming bar"). Of duplicate timestamps the first valid one is
    kept.
    """
    iv = interval if isinstance(interval, Interval) else parse_interval(interval)
    lo_price, hi_price = PRICE_LIMITS[normalise_segment(segment)]
    n = len(frame)
    if n == 0:
        return frame, {}
    o, h, low, c = frame.open, frame.high, frame.low, frame.close
    local = frame.ts + _IST_OFFSET_MS
    day = local // _DAY_MS
    in_day_ms = local - day * _DAY_MS
    minute = in_day_ms // 60_000

    checks: list[tuple[str, np.ndarray]] = []
    with np.errstate(invalid="ignore"):
        prices = np.stack([o, h, low, c])
        checks += [
            ("non-finite value", ~np.isfinite(prices).all(axis=0)),
            ("price below segment minimum", (prices < lo_price).any(axis=0)),
            ("price above segment limit", (prices > hi_price).any(axis=0)),
            ("high < low", h < low),
            ("open outside low..high", (o < low) | (o > h)),
            ("close outside low..high", (c < low) | (c > h)),
        ]
    checks += [
        ("negative volume", frame.volume < 0),
        ("negative oi", frame.oi < 0),
        ("in the future", frame.ts > to_ms(now)),
        ("forming bar", bar_ends(frame.ts, iv) > to_ms(now)),
    ]
    inverse, sessions = sessions_of(day)
    if iv.is_intraday:
        misaligned = (in_day_ms % 60_000 != 0) | ((minute - _OPEN_MIN) % iv.minutes != 0)
        outside = (minute < _OPEN_MIN) | (minute >= _CLOSE_MIN)
        for j, sess in enumerate(sessions):  # special sessions: their own spans and grids
            if sess is None or sess.kind == "normal":
                continue
            rows = np.flatnonzero(inverse == j)
            mins = minute[rows]
            inside = np.zeros(len(rows), dtype=bool)
            on_grid = np.zeros(len(rows), dtype=bool)
            for a, e in sess.spans:
                in_span = (mins >= a) & (mins < e)
                inside |= in_span
                on_grid |= in_span & ((mins - a) % iv.minutes == 0)
            outside[rows] = ~inside
            misaligned[rows] = (in_day_ms[rows] % 60_000 != 0) | (inside & ~on_grid)
    else:
        misaligned = in_day_ms != 0
        outside = np.zeros(n, dtype=bool)
    trading = np.array([sess is not None for sess in sessions], dtype=bool)[inverse]
    checks += [
        ("misaligned timestamp", misaligned),
        ("not a trading day", ~trading),
        ("outside session", outside),
    ]

    ok = np.ones(n, dtype=bool)
    issues: dict[str, int] = {}
    for reason, bad in checks:
        hit = ok & bad
        count = int(hit.sum())
        if count:
            issues[reason] = count
            ok &= ~hit
    # duplicates among the rows that survived: keep the first occurrence
    idx = np.flatnonzero(ok)
    if len(idx) > 1:
        _, first = np.unique(frame.ts[idx], return_index=True)
        if len(first) < len(idx):
            keep = np.zeros(len(idx), dtype=bool)
            keep[first] = True
            ok[idx[~keep]] = False
            issues["duplicate timestamp"] = int((~keep).sum())
    if ok.all():
        return frame, issues
    return frame.take(ok), issues
