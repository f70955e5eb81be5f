"""EMA crossover: long when the fast EMA crosses above the slow one, out when it crosses below."""

from __future__ import annotations

import math
from typing import Any

from mandi.core.errors import InvalidInput
from mandi.core.indicators import ema
from mandi.core.indicators.streaming import EMA
from mandi.core.strategies.base import (
    COMMON_SIGNAL_PARAMS,
    Bar,
    Param,
    SignalArrays,
    SignalStrategy,
    crosses_above,
    crosses_below,
)


class EmaCrossover(SignalStrategy):
    type_name = "ema_crossover"
    params_spec = (
        Param("fast", int, 10, 1, 1000, doc="fast EMA period (bars)"),
        Param("slow", int, 30, 2, 5000, doc="slow EMA period (bars)"),
        *COMMON_SIGNAL_PARAMS,
    )

    @classmethod
    def check_params(cls, p: dict[str, Any]) -> None:
        if p["fast"] >= p["slow"]:
            raise InvalidInput(f"fast ({p['fast']}) must be < slow ({p['slow']})", field="fast")

    def on_start(self, symbol: str) -> None:
        self._f = EMA(self.params["fast"])
        self._s = EMA(self.params["slow"])
        self._pf = self._ps = math.nan

    def step(self, bar: Bar) -> tuple[bool, bool]:
        f = self._f.update(bar.close)
        s = self._s.update(bar.close)
        pf, ps = self._pf, self._ps
        self._pf, self._ps = f, s
        return (pf <= ps and f > s), (pf >= ps and f < s)

    def signals(self, bars: Any) -> SignalArrays:
        f = ema(bars.close, self.params["fast"])
        s = ema(bars.close, self.params["slow"])
        return SignalArrays(crosses_above(f, s), crosses_below(f, s))
