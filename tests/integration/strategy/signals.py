"""Signals recomputed with numpy and TA-Lib (no project code) and held against a service
backtest's trades: where a trade may enter or exit, given the rule that a decision on bar d's
close fills at bar d+1's open, and that an MIS run takes no new entry from 15:20 IST on."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import talib

from mandi.core.backtest.data import Bars

IST_NS = 19_800 * 10**9  # +05:30
DAY_NS = 86_400 * 10**9
CUTOFF_MINUTE = 15 * 60 + 20  # MIS square-off, 15:20 IST


def ema_crosses(close: np.ndarray, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray]:
    """(golden, death): bars where TA-Lib's EMA(fast) crosses above / below EMA(slow), i.e.
    fast <= slow on the bar before and fast > slow on this one (NaN never crosses)."""
    f, s = talib.EMA(close, fast), talib.EMA(close, slow)
    golden = np.zeros(len(close), dtype=bool)
    death = np.zeros(len(close), dtype=bool)
    with np.errstate(invalid="ignore"):
        golden[1:] = (f[:-1] <= s[:-1]) & (f[1:] > s[1:])
        death[1:] = (f[:-1] >= s[:-1]) & (f[1:] < s[1:])
    return golden, death


def can_enter_after(bars: Bars) -> np.ndarray:
    """Bar d whose decision can open a position: bar d+1 exists and opens before the MIS
    cutoff (a decision on a session's last bar, 15:29, fills at the next session's 09:15)."""
    ts = bars.ts
    out = np.zeros(len(ts), dtype=bool)
    out[:-1] = ((ts[1:] + IST_NS) % DAY_NS) // (60 * 10**9) < CUTOFF_MINUTE
    return out


def bar_index(bars: Bars, ms: Iterable[int]) -> np.ndarray:
    """Index of each epoch-ms timestamp in the bars (every one must be a bar)."""
    ts_ms = bars.ts // 1_000_000
    want = np.asarray(list(ms), dtype=np.int64)
    idx = np.searchsorted(ts_ms, want)
    assert (idx < len(ts_ms)).all() and (ts_ms[np.minimum(idx, len(ts_ms) - 1)] == want).all(), \
        "a trade timestamp that is not a bar"
    return idx


def open_paise(bars: Bars, idx: np.ndarray) -> list[int]:
    """Bar opens in paise, half-up (₹1234.565 → 123457)."""
    return np.floor(bars.open[idx] * 100 + 0.5).astype(np.int64).tolist()


def open_at(trades: list, ts_ms: int) -> bool:
    """Some trade holds a position through bar ts_ms's decision (entered at or before it,
    exits after it)."""
    return any(t.entry_ts.ToMilliseconds() <= ts_ms < t.exit_ts.ToMilliseconds()
               for t in trades)
