"""Indicators TA-Lib lacks (Supertrend, VWAP) against hand-worked values and plain, independent
reference code that calls nothing from the project."""

import math

import numpy as np
import pandas as pd
import pytest
import talib

from mandi.core import indicators as ind
from mandi.core.backtest.data import random_walk_bars
from mandi.core.indicators import streaming as st


@pytest.fixture(scope="module")
def bars():
    return random_walk_bars(4_000, seed=3)


def reference_wilder_atr(h, lo, c, n):
    """Wilder's ATR from its definition, in plain Python (no project code): true range from the
    second bar on, the first ATR the mean of the first n true ranges (bar n, TA-Lib's seed),
    then ATR = (previous × (n - 1) + TR) / n."""
    tr = [math.nan] + [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1]))
                       for i in range(1, len(c))]
    out = [math.nan] * len(c)
    if len(c) > n:
        out[n] = sum(tr[1:n + 1]) / n
        for i in range(n + 1, len(c)):
            out[i] = (out[i - 1] * (n - 1) + tr[i]) / n
    return out


def reference_supertrend(h, lo, c, n, m):
    """Seban's Supertrend written from the published definition, in the form most write-ups
    (and TradingView's ta.supertrend) use: the state is *which band the previous Supertrend
    value was*, not a direction flag.

      basic upper/lower  = (H + L) / 2 ± m × ATR
      final upper        = basic upper if basic upper < previous final upper
                           or previous close > previous final upper, else previous final upper
      final lower        = basic lower if basic lower > previous final lower
                           or previous close < previous final lower, else previous final lower
      Supertrend         = previous was the upper band: upper if close <= upper, else lower
                           previous was the lower band: lower if close >= lower, else upper
      first value        = the final upper band (TradingView: na(atr[1]) → direction down)
    """
    atr = reference_wilder_atr(h, lo, c, n)
    line, trend = [math.nan] * len(c), [0] * len(c)
    fu = fl = None
    for i in range(len(c)):
        if math.isnan(atr[i]):
            continue
        bu = (h[i] + lo[i]) / 2 + m * atr[i]
        bl = (h[i] + lo[i]) / 2 - m * atr[i]
        if fu is None:
            fu, fl, line[i] = bu, bl, bu
        else:
            was_upper = line[i - 1] == fu
            fu = bu if (bu < fu or c[i - 1] > fu) else fu
            fl = bl if (bl > fl or c[i - 1] < fl) else fl
            if was_upper:
                line[i] = fu if c[i] <= fu else fl
            else:
                line[i] = fl if c[i] >= fl else fu
        trend[i] = 1 if line[i] == fl else -1
    return np.array(line), np.array(trend)


def test_reference_atr_is_tested_against_talib(bars):
    b = bars
    ours = np.array(reference_wilder_atr(b.high.tolist(), b.low.tolist(), b.close.tolist(), 10))
    np.testing.assert_allclose(ours[10:], talib.ATR(b.high, b.low, b.close, 10)[10:], rtol=1e-9)
    assert np.isnan(ours[:10]).all()


def test_supertrend_when_hand_worked_matches_every_value():
    # period 2, multiplier 0.25. TR from bar 1: max(H-L, |H-prevC|, |L-prevC|).
    #  bar  H   L   C     TR                     ATR                 hl2  basic up / low
    #  0    10  8   9     -                      -
    #  1    11  9   10    max(2, 2, 0) = 2       -
    #  2    12  10  12    max(2, 2, 0) = 2       (2+2)/2 = 2         11   11.5 / 10.5
    #  3    13  11  13    max(2, 1, 1) = 2       (2*1+2)/2 = 2       12   12.5 / 11.5
    #  4    12  10  10.5  max(2, 1, 3) = 3       (2*1+3)/2 = 2.5     11   11.625 / 10.375
    #  5    11  9   9.5   max(2, .5, 1.5) = 2    (2.5*1+2)/2 = 2.25  10   10.5625 / 9.4375
    # bar 2: first ATR → final bands = basic (11.5 / 10.5); no previous trend → down, line is
    #        the upper band 11.5, although the close 12 is above it (TradingView's start).
    # bar 3: upper: 12.5 < 11.5? no, but prev close 12 > 11.5 → reset to 12.5; lower: 11.5 >
    #        10.5 → 11.5. Down and close 13 > 12.5 → flips up, line = lower 11.5.
    # bar 4: upper 11.625 < 12.5 → 11.625; lower 10.375 > 11.5? no, prev close 13 < 11.5? no
    #        → stays 11.5. Up and close 10.5 < 11.5 → flips down, line = upper 11.625.
    # bar 5: upper 10.5625 < 11.625 → 10.5625; lower: prev close 10.5 < 11.5 → reset to
    #        9.4375. Down and close 9.5 <= 10.5625 → stays down, line = 10.5625.
    h = np.array([10, 11, 12, 13, 12, 11], dtype=float)
    lo = np.array([8, 9, 10, 11, 10, 9], dtype=float)
    c = np.array([9, 10, 12, 13, 10.5, 9.5])
    np.testing.assert_array_equal(ind.atr(h, lo, c, 2), [np.nan, np.nan, 2, 2, 2.5, 2.25])
    line, direction = ind.supertrend(h, lo, c, 2, 0.25)
    np.testing.assert_array_equal(line, [np.nan, np.nan, 11.5, 11.5, 11.625, 10.5625])
    assert direction.tolist() == [0, 0, -1, 1, -1, -1]
    ref_line, ref_trend = reference_supertrend(h.tolist(), lo.tolist(), c.tolist(), 2, 0.25)
    np.testing.assert_array_equal(ref_line, line)
    assert ref_trend.tolist() == direction.tolist()
    stream = st.Supertrend(2, 0.25)
    outs = [stream.update(*bar) for bar in zip(h, lo, c, strict=True)]
    assert [d for _, d in outs] == [0, 0, -1, 1, -1, -1]


@pytest.mark.parametrize(("period", "mult"), [(10, 3.0), (7, 1.0), (3, 0.3)])
def test_supertrend_when_compared_to_independent_reference_matches(bars, period, mult):
    b = bars
    line, direction = ind.supertrend(b.high, b.low, b.close, period, mult)
    ref_line, ref_trend = reference_supertrend(b.high.tolist(), b.low.tolist(),
                                               b.close.tolist(), period, mult)
    np.testing.assert_allclose(line, ref_line, rtol=1e-12)
    assert direction.tolist() == ref_trend.tolist()
    warm = direction != 0
    assert warm.sum() == len(b.close) - period
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
