"""Every batch indicator equals TA-Lib within 1e-9 relative after warm-up, on 100,000 bars."""

import numpy as np
import pytest
import talib  # a pinned test dependency: missing means a failed run, never a silent skip

from mandi.core import indicators as ind
from mandi.core.backtest.data import random_walk_bars
from mandi.core.errors import InvalidInput

N = 100_000
RTOL = 1e-9


@pytest.fixture(scope="module")
def bars():
    return random_walk_bars(N, seed=11)


def assert_matches(ours, ref, warmup):
    ours, ref = np.asarray(ours)[warmup:], np.asarray(ref)[warmup:]
    assert not np.isnan(ref).any(), "reference still warming up"
    assert not np.isnan(ours).any(), "ours still warming up"
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=0)


@pytest.mark.parametrize("period", [2, 10, 30, 200])
def test_sma_ema_wma_when_compared_to_talib_match(bars, period):
    c = bars.close
    assert_matches(ind.sma(c, period), talib.SMA(c, period), period - 1)
    assert_matches(ind.ema(c, period), talib.EMA(c, period), period - 1)
    assert_matches(ind.wma(c, period), talib.WMA(c, period), period - 1)


def test_moving_averages_when_warming_up_are_nan_exactly_as_talib(bars):
    c = bars.close
    for ours, ref in ((ind.ema(c, 30), talib.EMA(c, 30)), (ind.rsi(c, 14), talib.RSI(c, 14))):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))


@pytest.mark.parametrize("period", [2, 14, 50])
def test_rsi_when_compared_to_talib_matches(bars, period):
    assert_matches(ind.rsi(bars.close, period), talib.RSI(bars.close, period), period)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5), (3, 10, 1)])
def test_macd_when_compared_to_talib_all_three_lines_match(bars, fast, slow, signal):
    ours = ind.macd(bars.close, fast, slow, signal)
    ref = talib.MACD(bars.close, fast, slow, signal)
    warm = slow + signal - 2
    for o, r in zip(ours, ref, strict=True):
        # MACD values cross zero (a difference of two EMAs), so near zero the relative test is
        # taken against the EMAs' own scale, the close price: 1e-9 of ~1000 rupees.
        scale = np.abs(bars.close[warm:])
        assert not np.isnan(o[warm:]).any()
        assert np.all(np.abs(o[warm:] - r[warm:]) <= RTOL * np.maximum(np.abs(r[warm:]), scale))


@pytest.mark.parametrize(("period", "k"), [(20, 2.0), (5, 1.5)])
def test_bollinger_when_compared_to_talib_bands_match(bars, period, k):
    ours = ind.bollinger(bars.close, period, k, k)
    ref = talib.BBANDS(bars.close, period, k, k, 0)
    for o, r in zip(ours, ref, strict=True):
        assert_matches(o, r, period - 1)


@pytest.mark.parametrize("period", [1, 14, 30])
def test_atr_when_compared_to_talib_matches(bars, period):
    b = bars
    assert_matches(ind.atr(b.high, b.low, b.close, period),
                   talib.ATR(b.high, b.low, b.close, period), period)


@pytest.mark.parametrize(("k", "sk", "d"), [(14, 3, 3), (5, 3, 3), (9, 1, 4)])
def test_stochastic_when_compared_to_talib_matches(bars, k, sk, d):
    b = bars
    ours = ind.stochastic(b.high, b.low, b.close, k, sk, d)
    ref = talib.STOCH(b.high, b.low, b.close, k, sk, 0, d, 0)
    warm = k + sk + d - 3
    for o, r in zip(ours, ref, strict=True):
        np.testing.assert_allclose(o[warm:], r[warm:], rtol=RTOL, atol=1e-9)


@pytest.mark.parametrize("period", [2, 14, 28])
def test_adx_when_compared_to_talib_matches(bars, period):
    b = bars
    assert_matches(ind.adx(b.high, b.low, b.close, period),
                   talib.ADX(b.high, b.low, b.close, period), 2 * period - 1)


def test_obv_when_compared_to_talib_matches(bars):
    v = bars.volume.astype(float)
    assert_matches(ind.obv(bars.close, bars.volume), talib.OBV(bars.close, v), 0)


def test_macd_when_fast_not_below_slow_names_the_field():
    with pytest.raises(InvalidInput) as e:
        ind.macd(np.arange(100.0), 26, 12, 9)
    assert e.value.field == "fast"


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_ema_when_period_invalid_names_the_field(bad):
    with pytest.raises(InvalidInput) as e:
        ind.ema(np.arange(10.0), bad)
    assert e.value.field == "period"
