"""Momentum indicators: RSI (Wilder), MACD, Stochastic, ADX.

Seeding and smoothing follow TA-Lib step by step (the reference in the tests), including its
quirks: the MACD fast EMA is seeded from the `fast` values ending where the slow EMA's seed ends,
and ADX treats |x| < 1e-8 as zero. The streaming classes repeat the same arithmetic.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mandi.core.errors import InvalidInput
from mandi.core.indicators.moving import _ema_seeded, _sma, as_f64, check_period


@njit(cache=True)
def _rsi(x, n):
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] <= n:
        return out
    gain = 0.0
    loss = 0.0
    for i in range(1, n + 1):
        d = x[i] - x[i - 1]
        if d < 0:
            loss -= d
        else:
            gain += d
    gain /= n
    loss /= n
    t = gain + loss
    out[n] = 100.0 * (gain / t) if t != 0.0 else 0.0
    for i in range(n + 1, x.shape[0]):
        d = x[i] - x[i - 1]
        gain *= n - 1
        loss *= n - 1
        if d < 0:
            loss -= d
        else:
            gain += d
        gain /= n
        loss /= n
        t = gain + loss
        out[i] = 100.0 * (gain / t) if t != 0.0 else 0.0
    return out


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    return _rsi(as_f64(close), check_period(period, minimum=2))


def macd(
    close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(macd line, signal line, histogram); all three valid from index slow+signal-2."""
    fast = check_period(fast, "fast", 2)
    slow = check_period(slow, "slow", 2)
    signal = check_period(signal, "signal", 1)
    if fast >= slow:
        raise InvalidInput(f"fast ({fast}) must be < slow ({slow})", field="fast")
    x = as_f64(close)
    start = slow - 1
    line = _ema_seeded(x, fast, 2.0 / (fast + 1), start) - _ema_seeded(
        x, slow, 2.0 / (slow + 1), start
    )
    sig = _ema_seeded(line, signal, 2.0 / (signal + 1), start + signal - 1)
    line[: start + signal - 1] = np.nan
    return line, sig, line - sig


@njit(cache=True)
def _stoch_fastk(high, low, close, k):
    out = np.full(close.shape[0], np.nan)
    for i in range(k - 1, close.shape[0]):
        hh = high[i - k + 1]
        ll = low[i - k + 1]
        for j in range(i - k + 2, i + 1):
            if high[j] > hh:
                hh = high[j]
            if low[j] < ll:
                ll = low[j]
        diff = (hh - ll) / 100.0
        out[i] = (close[i] - ll) / diff if diff != 0.0 else 0.0
    return out


@njit(cache=True)
def _sma_from(x, n, start):
    """SMA of x where x is NaN before `start`."""
    out = np.full(x.shape[0], np.nan)
    if start < x.shape[0]:
        out[start:] = _sma(x[start:], n)
    return out


def stochastic(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, k: int = 14, smooth_k: int = 3,
    d: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Slow stochastic (%K smoothed by SMA(smooth_k), %D = SMA(d) of it), TA-Lib STOCH."""
    k = check_period(k, "k")
    smooth_k = check_period(smooth_k, "smooth_k")
    d = check_period(d, "d")
    fastk = _stoch_fastk(as_f64(high), as_f64(low), as_f64(close), k)
    slowk = _sma_from(fastk, smooth_k, k - 1)
    slowd = _sma_from(slowk, d, k - 1 + smooth_k - 1)
    return slowk, slowd


@njit(cache=True)
def _is_zero(v):
    return -1e-8 < v < 1e-8


@njit(cache=True)
def _dm_tr(h, lo, ph, pl, pc):
    dp = h - ph
    dm = pl - lo
    plus = 0.0
    minus = 0.0
    if dm > 0 and dp < dm:
        minus = dm
    elif dp > 0 and dp > dm:
        plus = dp
    tr = h - lo
    a = abs(pc - h)
    if a > tr:
        tr = a
    b = abs(pc - lo)
    if b > tr:
        tr = b
    return plus, minus, tr


@njit(cache=True)
def _adx(high, low, close, n):
    m = close.shape[0]
    out = np.full(m, np.nan)
    if m < 2 * n:
        return out
    pdm = 0.0
    mdm = 0.0
    ptr = 0.0
    for i in range(1, n):
        p, q, tr = _dm_tr(high[i], low[i], high[i - 1], low[i - 1], close[i - 1])
        pdm += p
        mdm += q
        ptr += tr
    sum_dx = 0.0
    for i in range(n, 2 * n):
        p, q, tr = _dm_tr(high[i], low[i], high[i - 1], low[i - 1], close[i - 1])
        pdm = pdm - pdm / n + p
        mdm = mdm - mdm / n + q
        ptr = ptr - ptr / n + tr
        if not _is_zero(ptr):
            mdi = 100.0 * (mdm / ptr)
            pdi = 100.0 * (pdm / ptr)
            t = mdi + pdi
            if not _is_zero(t):
                sum_dx += 100.0 * (abs(mdi - pdi) / t)
    adx = sum_dx / n
    out[2 * n - 1] = adx
    for i in range(2 * n, m):
        p, q, tr = _dm_tr(high[i], low[i], high[i - 1], low[i - 1], close[i - 1])
        pdm = pdm - pdm / n + p
        mdm = mdm - mdm / n + q
        ptr = ptr - ptr / n + tr
        if not _is_zero(ptr):
            mdi = 100.0 * (mdm / ptr)
            pdi = 100.0 * (pdm / ptr)
            t = mdi + pdi
            if not _is_zero(t):
                adx = (adx * (n - 1) + 100.0 * (abs(mdi - pdi) / t)) / n
        out[i] = adx
    return out


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    return _adx(as_f64(high), as_f64(low), as_f64(close), check_period(period, minimum=2))
