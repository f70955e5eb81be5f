"""MACD cross: long when the MACD line crosses above its signal line, out when it crosses below."""

from __future__ import annotations

import math
from typing import Any

from mandi.core.errors import InvalidInput
from mandi.core.indicators import macd
from mandi.core.indicators.streaming import MACD
from mandi.core.strategies.base import (
    COMMON_SIGNAL_PARAMS,
    Bar,
    Param,
    SignalArrays,
    SignalStrategy,
    crosses_above,
    crosses_below,
)


class MacdCross(SignalStrategy):
    type_name = "macd_cross"
    params_spec = (
        Param("fast", int, 12, 2, 1000),
        Param("slow", int, 26, 3, 5000),
        Param("signal", int, 9, 1, 1000),
        *COMMON_SIGNAL_PARAMS,
    )

    @classmethod
    def check_params(cls, p: dict[str, Any]) -> None:
        if p["fast"] >= p["slow"]:
            raise InvalidInput(f"fast ({p['fast']}) must be < slow ({p['slow']})", field="fast")

    def on_start(self, symbol: str) -> None:
        self._m = MACD(self.params["fast"], self.params["slow"], self.params["signal"])
        self._pl = self._ps = math.nan

    def step(self, bar: Bar) -> tuple[bool, bool]:
        line, sig, _ = self._m.update(bar.close)
        pl, ps = self._pl, self._ps
        self._pl, self._ps = line, sig
        return (pl <= ps and line > sig), (pl >= ps and line < sig)

    def signals(self, bars: Any) -> SignalArrays:
        line, sig, _ = macd(bars.close, self.params["fast"], self.params["slow"],
                            self.params["signal"])
        return SignalArrays(crosses_above(line, sig), crosses_below(line, sig))
