"""Bollinger mean reversion: long when the close is below the lower band, out above the middle."""

from __future__ import annotations

from typing import Any

from mandi.core.indicators import bollinger
from mandi.core.indicators.streaming import Bollinger
from mandi.core.strategies.base import (
    COMMON_SIGNAL_PARAMS,
    Bar,
    Param,
    SignalArrays,
    SignalStrategy,
)


class BollingerReversion(SignalStrategy):
    type_name = "bollinger_reversion"
    params_spec = (
        Param("period", int, 20, 2, 1000),
        Param("k", float, 2.0, 0.1, 10.0, doc="band width in standard deviations"),
        *COMMON_SIGNAL_PARAMS,
    )

    def on_start(self, symbol: str) -> None:
        self._bb = Bollinger(self.params["period"], self.params["k"], self.params["k"])

    def step(self, bar: Bar) -> tuple[bool, bool]:
        _, mid, lower = self._bb.update(bar.close)
        return bar.close < lower, bar.close > mid

    def signals(self, bars: Any) -> SignalArrays:
        _, mid, lower = bollinger(bars.close, self.params["period"], self.params["k"],
                                  self.params["k"])
        return SignalArrays(bars.close < lower, bars.close > mid)
