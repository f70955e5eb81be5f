"""Volatility indicators: Bollinger Bands, ATR (Wilder), Supertrend.

Bollinger uses the population standard deviation, recomputed over each window.
Supertrend is not in TA-Lib. It follows Olivier Seban's definition as TradingView's built-in
`ta.supertrend` implements it: basic bands (H+L)/2 ± m·ATR on Wilder's ATR (seeded like TA-Lib's:
the mean of the first `period` true ranges, so the first value is at bar `period`); the final
upper band only falls (it is reset to the basic band when the previous close was above it), the
final lower band only rises (reset when the previous close was below it); the trend flips up
when the close crosses above the final upper band and down when it crosses below the final lower
band. The first bar with an ATR starts in a downtrend (line = upper band), as TradingView does,
whatever its close; a close above the band flips it from the next bar on. Tested against a
hand-worked example and an independent implementation of that definition.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mandi.core.errors import InvalidInput
from mandi.core.indicators.moving import as_f64, check_period


@njit(cache=True)
def _bbands(x, n, k_up, k_dn):
    m = x.shape[0]
    up = np.full(m, np.nan)
    mid = np.full(m, np.nan)
    dn = np.full(m, np.nan)
    s = 0.0
    for i in range(m):
        s += x[i]
        if i >= n - 1:
            # running sum for the mean (TA-Lib's SMA order: read, then drop the oldest); the
            # variance is recomputed per window, since a running sum of squares drifts by ~1e-7
            mean = s / n
            s -= x[i - n + 1]
            acc = 0.0
            for j in range(i - n + 1, i + 1):
                dev = x[j] - mean
                acc += dev * dev
            var = acc / n
            sd = np.sqrt(var) if var >= 1e-8 else 0.0
            mid[i] = mean
            up[i] = mean + k_up * sd
            dn[i] = mean - k_dn * sd
    return up, mid, dn


def bollinger(
    close: np.ndarray, period: int = 20, k_up: float = 2.0, k_dn: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower)."""
    n = check_period(period, minimum=2)
    if not (k_up > 0 and k_dn > 0):
        raise InvalidInput("band widths must be > 0", field="k")
    return _bbands(as_f64(close), n, float(k_up), float(k_dn))


@njit(cache=True)
def _true_range(h, lo, pc):
    tr = h - lo
    a = abs(pc - h)
    if a > tr:
        tr = a
    b = abs(pc - lo)
    if b > tr:
        tr = b
    return tr


@njit(cache=True)
def _atr(high, low, close, n):
    m = close.shape[0]
    out = np.full(m, np.nan)
    if m <= n:
        return out
    s = 0.0
    for i in range(1, n + 1):
        s += _true_range(high[i], low[i], close[i - 1])
    a = s / n
    out[n] = a
    for i in range(n + 1, m):
        a *= n - 1
        a += _true_range(high[i], low[i], close[i - 1])
        a /= n
        out[i] = a
    return out


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    return _atr(as_f64(high), as_f64(low), as_f64(close), check_period(period))


@njit(cache=True)
def _supertrend(high, low, close, atr_, mult):
    m = close.shape[0]
    st = np.full(m, np.nan)
    direction = np.zeros(m, dtype=np.int8)
    fub = np.nan
    flb = np.nan
    d = 0
    for i in range(m):
        a = atr_[i]
        if np.isnan(a):
            continue
        hl2 = (high[i] + low[i]) / 2.0
        bub = hl2 + mult * a
        blb = hl2 - mult * a
        if d == 0:
            fub = bub
            flb = blb
            d = -1  # no previous trend: start down, as TradingView does
        else:
            pc = close[i - 1]
            if bub < fub or pc > fub:
                fub = bub
            if blb > flb or pc < flb:
                flb = blb
            if d == -1 and close[i] > fub:
                d = 1
            elif d == 1 and close[i] < flb:
                d = -1
        direction[i] = d
        st[i] = flb if d == 1 else fub
    return st, direction


def supertrend(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 10, multiplier: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """(supertrend line, direction +1 up / -1 down / 0 warm-up)."""
    if not multiplier > 0:
        raise InvalidInput("multiplier must be > 0", field="multiplier")
    h, lo, c = as_f64(high), as_f64(low), as_f64(close)
    return _supertrend(h, lo, c, _atr(h, lo, c, check_period(period)), float(multiplier))
