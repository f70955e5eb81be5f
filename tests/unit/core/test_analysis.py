"""Analysis: returns by period, volatility, correlation, distribution, session resampling."""

import numpy as np
import pandas as pd
import pytest

from mandi.core import analysis as an
from mandi.core.backtest.data import Bars, random_walk_bars
from mandi.core.errors import InvalidInput


@pytest.fixture(scope="module")
def bars():
    return random_walk_bars(375 * 60, seed=8)  # 60 sessions of 1-minute bars


def test_period_returns_when_daily_use_last_close_of_each_ist_day(bars):
    r = an.period_returns(bars, "daily")
    eod = bars.close[374::375]
    np.testing.assert_allclose(r.to_numpy(), eod[1:] / eod[:-1] - 1)
    assert len(an.period_returns(bars, "weekly")) == 12  # 13 weeks: Wed 1 Jan … Tue 25 Mar
    assert len(an.period_returns(bars, "monthly")) == 2


def test_volatility_when_annualised_scales_std_by_sqrt_252(bars):
    r = an.period_returns(bars)
    assert an.annualised_volatility(r) == pytest.approx(r.std(ddof=1) * np.sqrt(252))
    roll = an.rolling_volatility(r, 10)
    assert roll.isna().sum() == 9
    assert roll.iloc[-1] == pytest.approx(r.iloc[-10:].std(ddof=1) * np.sqrt(252))


def test_correlation_matrix_when_series_scaled_or_independent(bars):
    doubled = Bars(bars.ts, bars.open * 2, bars.high * 2, bars.low * 2, bars.close * 2,
                   bars.volume, "B")
    other = random_walk_bars(len(bars), seed=99)
    m = an.correlation_matrix({"A": bars, "B": doubled, "C": other})
    assert m.loc["A", "B"] == pytest.approx(1.0)
    assert abs(m.loc["A", "C"]) < 0.5
    assert list(m.columns) == ["A", "B", "C"]


def test_distribution_when_known_sample_matches_moment_formulas():
    x = np.array([1.0, 2.0, 2.0, 3.0, 9.0])
    d = an.distribution(x, bins=4)
    n, m, s = 5, x.mean(), x.std(ddof=1)
    skew = n / ((n - 1) * (n - 2)) * np.sum(((x - m) / s) ** 3)
    kurt = (n * (n + 1) / ((n - 1) * (n - 2) * (n - 3)) * np.sum(((x - m) / s) ** 4)
            - 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))
    assert (d.count, d.mean, d.std) == (5, pytest.approx(m), pytest.approx(s))
    assert d.skew == pytest.approx(skew)
    assert d.kurtosis == pytest.approx(kurt)
    assert d.hist_counts.tolist() == [3, 1, 0, 1]
    assert d.hist_edges.tolist() == [1.0, 3.0, 5.0, 7.0, 9.0]


@pytest.mark.parametrize("minutes", [5, 15, 60])
def test_resample_when_minutes_matches_pandas_session_anchored(bars, minutes):
    out = an.resample(bars, minutes)
    df = pd.DataFrame({"o": bars.open, "h": bars.high, "l": bars.low, "c": bars.close,
                       "v": bars.volume},
                      index=pd.to_datetime(bars.ts, utc=True).tz_convert("Asia/Kolkata"))
    ref = df.resample(f"{minutes}min", origin="start_day", offset="15min").agg(
        {"o": "first", "h": "max", "l": "min", "c": "last", "v": "sum"}).dropna()
    assert len(out) == len(ref)
    np.testing.assert_array_equal(out.ts, ref.index.tz_convert("UTC").as_unit("ns").asi8)
    for ours, col in zip((out.open, out.high, out.low, out.close), "ohlc", strict=True):
        np.testing.assert_array_equal(ours, ref[col].to_numpy())
    np.testing.assert_array_equal(out.volume, ref.v.to_numpy())


def test_resample_when_hourly_never_spans_sessions(bars):
    out = an.resample(bars, 60)
    # 09:15–15:29 is 375 minutes: six full hours and a 15-minute last candle per session
    assert len(out) == 60 * 7
    daily = an.resample(bars, daily=True)
    assert len(daily) == 60
    np.testing.assert_array_equal(daily.close, bars.close[374::375])
    assert daily.volume.sum() == bars.volume.sum()


def test_resample_when_both_or_neither_given_names_minutes(bars):
    with pytest.raises(InvalidInput) as e:
        an.resample(bars)
    assert e.value.field == "minutes"
