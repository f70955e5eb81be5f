"""Technical indicators: vectorised batch functions and streaming twins with identical output."""

from mandi.core.indicators.momentum import adx, macd, rsi, stochastic
from mandi.core.indicators.moving import ema, sma, wma
from mandi.core.indicators.volatility import atr, bollinger, supertrend
from mandi.core.indicators.volume import obv, session_ids, vwap

__all__ = [
    "adx", "atr", "bollinger", "ema", "macd", "obv", "rsi", "session_ids", "sma", "stochastic",
    "supertrend", "vwap", "wma",
]
