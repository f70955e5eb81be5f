"""Market analysis on bars: period returns, volatility, correlation, distributions, resampling.

Periods are IST calendar periods (a trading day is an IST date; weeks end on Friday; months are
calendar months); a period's price is the last close inside it. Volatility is annualised with
`periods_per_year` (252 for daily returns). Skew and kurtosis are the bias-corrected sample
statistics (kurtosis as excess over the normal's 3), as pandas computes them.

Resampling aligns candles to the NSE session: an N-minute candle starts at 09:15 + k·N IST and
never spans two sessions; a daily candle is one IST date. Candles are labelled by their start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from mandi.core.backtest.data import DAY_NS, IST_OFFSET_NS, NS_PER_MIN, Bars
from mandi.core.errors import InvalidInput

Period = Literal["daily", "weekly", "monthly"]
_RULES = {"daily": "D", "weekly": "W-FRI", "monthly": "ME"}
SESSION_OPEN_MIN = 9 * 60 + 15


def closes(bars: Bars) -> pd.Series:
    idx = pd.to_datetime(bars.ts, utc=True).tz_convert("Asia/Kolkata")
    return pd.Series(bars.close, index=idx, name=bars.symbol or "close")


def period_returns(bars: Bars, period: Period = "daily") -> pd.Series:
    """Simple returns between consecutive period-end closes (first period has none)."""
    if period not in _RULES:
        raise InvalidInput(f"period must be one of {list(_RULES)}", field="period")
    last = closes(bars).resample(_RULES[period]).last().dropna()
    return last.pct_change().dropna()


def annualised_volatility(returns: pd.Series, periods_per_year: int = 252) -> float:
    if len(returns) < 2:
        raise InvalidInput("need at least two returns", field="returns")
    return float(returns.std(ddof=1) * np.sqrt(periods_per_year))


def rolling_volatility(returns: pd.Series, window: int = 20,
                       periods_per_year: int = 252) -> pd.Series:
    if not isinstance(window, int) or window < 2:
        raise InvalidInput("window must be an integer >= 2", field="window")
    return returns.rolling(window).std(ddof=1) * np.sqrt(periods_per_year)


def correlation_matrix(data: Mapping[str, Bars], period: Period = "daily") -> pd.DataFrame:
    """Pearson correlation of period returns, on the periods every symbol traded."""
    if len(data) < 2:
        raise InvalidInput("need at least two symbols", field="symbols")
    rets = pd.DataFrame({sym: period_returns(b, period) for sym, b in data.items()}).dropna()
    return rets.corr()


@dataclass(frozen=True)
class Distribution:
    count: int
    mean: float
    std: float
    skew: float
    kurtosis: float  # excess
    hist_counts: np.ndarray
    hist_edges: np.ndarray


def distribution(values: pd.Series | np.ndarray, bins: int = 50) -> Distribution:
    s = pd.Series(np.asarray(values, dtype=np.float64)).dropna()
    if len(s) < 4:
        raise InvalidInput("need at least four values", field="values")
    if not isinstance(bins, int) or bins < 1:
        raise InvalidInput("bins must be a positive integer", field="bins")
    counts, edges = np.histogram(s.to_numpy(), bins=bins)
    return Distribution(len(s), float(s.mean()), float(s.std(ddof=1)), float(s.skew()),
                        float(s.kurt()), counts, edges)


def resample(bars: Bars, minutes: int | None = None, daily: bool = False) -> Bars:
    """Aggregate bars into session-aligned N-minute candles, or daily candles."""
    if daily == (minutes is not None):
        raise InvalidInput("give either minutes or daily=True", field="minutes")
    if minutes is not None and (not isinstance(minutes, int) or minutes < 1):
        raise InvalidInput("minutes must be a positive integer", field="minutes")
    if len(bars) == 0:
        return bars
    local = bars.ts + IST_OFFSET_NS
    day = local // DAY_NS
    if daily:
        key = day
        start = day * DAY_NS - IST_OFFSET_NS + SESSION_OPEN_MIN * NS_PER_MIN
    else:
        minute = (local % DAY_NS) // NS_PER_MIN
        slot = (minute - SESSION_OPEN_MIN) // minutes
        key = day * 10_000 + slot
        start = day * DAY_NS - IST_OFFSET_NS + (SESSION_OPEN_MIN + slot * minutes) * NS_PER_MIN
    first = np.r_[True, key[1:] != key[:-1]]
    s = np.nonzero(first)[0]
    e = np.r_[s[1:], len(bars)] - 1
    return Bars(start[s], bars.open[s], np.maximum.reduceat(bars.high, s),
                np.minimum.reduceat(bars.low, s), bars.close[e],
                np.add.reduceat(bars.volume, s), bars.symbol)
