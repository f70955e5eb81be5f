"""Streaming indicators return exactly (bit for bit) what the batch functions return."""

import numpy as np
import pytest

from mandi.core import indicators as ind
from mandi.core.backtest.data import random_walk_bars
from mandi.core.indicators import streaming as st

N = 3_000


@pytest.fixture(scope="module")
def bars():
    return random_walk_bars(N, seed=5)


def run(obj, *cols):
    out = [obj.update(*row) for row in zip(*(c.tolist() for c in cols), strict=True)]
    return np.array(out, dtype=float)


@pytest.mark.parametrize("period", [1, 2, 9, 50])
def test_sma_ema_wma_streaming_when_fed_bar_by_bar_equal_batch(bars, period):
    c = bars.close
    np.testing.assert_array_equal(run(st.SMA(period), c), ind.sma(c, period))
    np.testing.assert_array_equal(run(st.EMA(period), c), ind.ema(c, period))
    np.testing.assert_array_equal(run(st.WMA(period), c), ind.wma(c, period))


@pytest.mark.parametrize("period", [2, 14])
def test_rsi_streaming_when_fed_bar_by_bar_equals_batch(bars, period):
    np.testing.assert_array_equal(run(st.RSI(period), bars.close), ind.rsi(bars.close, period))


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (3, 10, 1)])
def test_macd_streaming_when_fed_bar_by_bar_equals_batch(bars, fast, slow, signal):
    out = run(st.MACD(fast, slow, signal), bars.close)
    for col, ref in zip(out.T, ind.macd(bars.close, fast, slow, signal), strict=True):
        np.testing.assert_array_equal(col, ref)


def test_bollinger_streaming_when_fed_bar_by_bar_equals_batch(bars):
    out = run(st.Bollinger(20, 2.0, 1.5), bars.close)
    for col, ref in zip(out.T, ind.bollinger(bars.close, 20, 2.0, 1.5), strict=True):
        np.testing.assert_array_equal(col, ref)


@pytest.mark.parametrize("period", [1, 14])
def test_atr_adx_streaming_when_fed_bar_by_bar_equal_batch(bars, period):
    b = bars
    np.testing.assert_array_equal(run(st.ATR(period), b.high, b.low, b.close),
                                  ind.atr(b.high, b.low, b.close, period))
    if period >= 2:
        np.testing.assert_array_equal(run(st.ADX(period), b.high, b.low, b.close),
                                      ind.adx(b.high, b.low, b.close, period))


def test_stochastic_streaming_when_fed_bar_by_bar_equals_batch(bars):
    b = bars
    out = run(st.Stochastic(14, 3, 3), b.high, b.low, b.close)
    for col, ref in zip(out.T, ind.stochastic(b.high, b.low, b.close, 14, 3, 3), strict=True):
        np.testing.assert_array_equal(col, ref)


def test_supertrend_streaming_when_fed_bar_by_bar_equals_batch(bars):
    b = bars
    out = run(st.Supertrend(10, 3.0), b.high, b.low, b.close)
    line, direction = ind.supertrend(b.high, b.low, b.close, 10, 3.0)
    np.testing.assert_array_equal(out[:, 0], line)
    np.testing.assert_array_equal(out[:, 1], direction)


def test_vwap_obv_streaming_when_fed_bar_by_bar_equal_batch(bars):
    b = bars
    np.testing.assert_array_equal(run(st.VWAP(), b.ts, b.high, b.low, b.close, b.volume),
                                  ind.vwap(b.ts, b.high, b.low, b.close, b.volume))
    np.testing.assert_array_equal(run(st.OBV(), b.close, b.volume), ind.obv(b.close, b.volume))
