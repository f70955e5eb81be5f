"""RSI reversal: long while RSI is below `oversold`, out once it is above `overbought`."""

from __future__ import annotations

from typing import Any

from mandi.core.errors import InvalidInput
from mandi.core.indicators import rsi
from mandi.core.indicators.streaming import RSI
from mandi.core.strategies.base import (
    COMMON_SIGNAL_PARAMS,
    Bar,
    Param,
    SignalArrays,
    SignalStrategy,
)


class RsiReversal(SignalStrategy):
    type_name = "rsi"
    params_spec = (
        Param("period", int, 14, 2, 500),
        Param("oversold", float, 30.0, 0.0, 100.0),
        Param("overbought", float, 70.0, 0.0, 100.0),
        *COMMON_SIGNAL_PARAMS,
    )

    @classmethod
    def check_params(cls, p: dict[str, Any]) -> None:
        if p["oversold"] >= p["overbought"]:
            raise InvalidInput("oversold must be < overbought", field="oversold")

    def on_start(self, symbol: str) -> None:
        self._rsi = RSI(self.params["period"])

    def step(self, bar: Bar) -> tuple[bool, bool]:
        r = self._rsi.update(bar.close)
        return r < self.params["oversold"], r > self.params["overbought"]

    def signals(self, bars: Any) -> SignalArrays:
        r = rsi(bars.close, self.params["period"])
        return SignalArrays(r < self.params["oversold"], r > self.params["overbought"])
