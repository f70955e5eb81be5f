"""Indicators TA-Lib lacks (Supertrend, VWAP) against plain, independent reference code."""

import numpy as np
import pandas as pd
import pytest

from mandi.core import indicators as ind
from mandi.core.backtest.data import random_walk_bars


@pytest.fixture(scope="module")
def bars():
    return random_walk_bars(4_000, seed=3)


def reference_supertrend(h, lo, c, period, mult):
    atr = ind.atr(h, lo, c, period)  # ATR itself is checked against TA-Lib elsewhere
    line = np.full(len(c), np.nan)
    up = dn = None
    trend = 0
    for i in range(len(c)):
        if np.isnan(atr[i]):
            continue
        mid = (h[i] + lo[i]) / 2
        bu, bl = mid + mult * atr[i], mid - mult * atr[i]
        if trend == 0:
            up, dn = bu, bl
            trend = 1 if c[i] > up else -1
        else:
            up = bu if (bu < up or c[i - 1] > up) else up
            dn = bl if (bl > dn or c[i - 1] < dn) else dn
            if trend == -1 and c[i] > up:
                trend = 1
            elif trend == 1 and c[i] < dn:
                trend = -1
        line[i] = dn if trend == 1 else up
    return line


def test_supertrend_when_compared_to_reference_matches(bars):
    b = bars
    line, direction = ind.supertrend(b.high, b.low, b.close, 10, 3.0)
    np.testing.assert_allclose(line, reference_supertrend(b.high, b.low, b.close, 10, 3.0),
                               rtol=1e-12)
    warm = direction != 0
    assert np.all(np.where(direction[warm] == 1, b.close[warm] >= line[warm] - 1e-9, True))
    assert {1, -1} <= set(direction.tolist())


def test_vwap_when_session_changes_restarts_from_that_day(bars):
    b = bars
    idx = pd.to_datetime(b.ts, utc=True).tz_convert("Asia/Kolkata")
    df = pd.DataFrame({"tp": (b.high + b.low + b.close) / 3, "v": b.volume.astype(float)})
    df["pv"] = df.tp * df.v
    day = idx.date
    ref = df.groupby(day).pv.cumsum() / df.groupby(day).v.cumsum()
    ours = ind.vwap(b.ts, b.high, b.low, b.close, b.volume)
    np.testing.assert_allclose(ours, ref.to_numpy(), rtol=1e-12)
    first_of_day = np.r_[True, day[1:] != day[:-1]]
    np.testing.assert_allclose(ours[first_of_day], df.tp[first_of_day], rtol=1e-12)
