"""Volume indicators: session-anchored VWAP and OBV.

VWAP restarts at each IST trading day (the session), weighting the typical price (H+L+C)/3.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mandi.core.indicators.moving import as_f64

IST_OFFSET_NS = (5 * 3600 + 1800) * 1_000_000_000
DAY_NS = 86_400 * 1_000_000_000


def session_ids(ts_ns: np.ndarray) -> np.ndarray:
    """IST calendar day number of each UTC epoch-ns timestamp (the VWAP anchor)."""
    return (np.asarray(ts_ns, dtype=np.int64) + IST_OFFSET_NS) // DAY_NS


@njit(cache=True)
def _vwap(sess, high, low, close, volume):
    m = close.shape[0]
    out = np.full(m, np.nan)
    pv = 0.0
    vv = 0.0
    for i in range(m):
        if i == 0 or sess[i] != sess[i - 1]:
            pv = 0.0
            vv = 0.0
        tp = (high[i] + low[i] + close[i]) / 3.0
        pv += tp * volume[i]
        vv += volume[i]
        if vv > 0:
            out[i] = pv / vv
    return out


def vwap(
    ts_ns: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> np.ndarray:
    return _vwap(session_ids(ts_ns), as_f64(high), as_f64(low), as_f64(close), as_f64(volume))


@njit(cache=True)
def _obv(close, volume):
    m = close.shape[0]
    out = np.full(m, np.nan)
    if m == 0:
        return out
    v = volume[0]
    out[0] = v
    for i in range(1, m):
        if close[i] > close[i - 1]:
            v += volume[i]
        elif close[i] < close[i - 1]:
            v -= volume[i]
        out[i] = v
    return out


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    return _obv(as_f64(close), as_f64(volume))
