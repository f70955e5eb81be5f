"""Moving averages: SMA, EMA, WMA.

Each batch function is a numba loop that performs exactly the arithmetic of the matching streaming
class in `streaming.py`, in the same order, so live and backtest see bit-identical numbers.
Seeding follows TA-Lib (the reference the tests compare with): an EMA starts at index n-1 with the
simple mean of the first n values. Output is NaN before the first valid index.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mandi.core.errors import InvalidInput


def check_period(n: int, field: str = "period", minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < minimum:
        raise InvalidInput(f"{field} must be an integer >= {minimum}, got {n!r}", field=field)
    return int(n)


def as_f64(x: np.ndarray, field: str = "values") -> np.ndarray:
    a = np.ascontiguousarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise InvalidInput(f"{field} must be one-dimensional", field=field)
    return a


@njit(cache=True)
def _sma(x, n):
    out = np.full(x.shape[0], np.nan)
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i]
        if i >= n:
            s -= x[i - n]
        if i >= n - 1:
            out[i] = s / n
    return out


@njit(cache=True)
def _ema_seeded(x, n, k, start):
    """EMA whose seed is the mean of x[start-n+1 .. start]; output from `start` on."""
    out = np.full(x.shape[0], np.nan)
    if start >= x.shape[0] or start - n + 1 < 0:
        return out
    s = 0.0
    for i in range(start - n + 1, start + 1):
        s += x[i]
    prev = s / n
    out[start] = prev
    for i in range(start + 1, x.shape[0]):
        prev = (x[i] - prev) * k + prev
        out[i] = prev
    return out


@njit(cache=True)
def _wma(x, n):
    out = np.full(x.shape[0], np.nan)
    div = n * (n + 1) / 2.0
    s = 0.0  # plain sum of the window
    w = 0.0  # weighted sum of the window, newest weight n
    for i in range(x.shape[0]):
        if i < n:
            w += x[i] * (i + 1)
            s += x[i]
            if i == n - 1:
                out[i] = w / div
        else:
            w += x[i] * n - s
            s += x[i] - x[i - n]
            out[i] = w / div
    return out


def sma(x: np.ndarray, period: int) -> np.ndarray:
    return _sma(as_f64(x), check_period(period))


def ema(x: np.ndarray, period: int) -> np.ndarray:
    n = check_period(period)
    return _ema_seeded(as_f64(x), n, 2.0 / (n + 1), n - 1)


def wma(x: np.ndarray, period: int) -> np.ndarray:
    return _wma(as_f64(x), check_period(period))
