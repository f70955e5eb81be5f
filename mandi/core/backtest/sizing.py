"""Position sizing: how many units an entry buys when the strategy leaves qty to the run.

Every rule works in integer paise except ATR risk, whose per-unit risk is a float (an indicator);
the fast path evaluates the same expressions (`KIND` codes below) so both paths size alike.
Quantities are rounded down to whole lots (F&O lot size, 1 for equity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mandi.core.errors import InvalidInput

FIXED_QTY, FIXED_CAPITAL, PCT_EQUITY, ATR_RISK = 0, 1, 2, 3


def _bps(pct: float, field: str) -> int:
    if not 0 < pct <= 100:
        raise InvalidInput(f"{field} must be in (0, 100], got {pct}", field=field)
    bps = round(pct * 100)
    if abs(bps - pct * 100) > 1e-9:
        raise InvalidInput(f"{field} has more than two decimals", field=field)
    return bps


@dataclass(frozen=True)
class FixedQty:
    qty: int

    kind = FIXED_QTY

    def __post_init__(self) -> None:
        if not isinstance(self.qty, int) or self.qty <= 0:
            raise InvalidInput("qty must be a positive integer", field="qty")

    def as_params(self) -> tuple[int, int, float, float]:
        return self.kind, self.qty, 0.0, 0.0


@dataclass(frozen=True)
class FixedCapital:
    """Spend up to `capital_paise` per entry."""

    capital_paise: int

    kind = FIXED_CAPITAL

    def __post_init__(self) -> None:
        if not isinstance(self.capital_paise, int) or self.capital_paise <= 0:
            raise InvalidInput("capital must be positive paise", field="capital_paise")

    def as_params(self) -> tuple[int, int, float, float]:
        return self.kind, self.capital_paise, 0.0, 0.0


@dataclass(frozen=True)
class PercentEquity:
    """Spend `pct` % of current equity (two decimals) per entry."""

    pct: float

    kind = PCT_EQUITY

    def __post_init__(self) -> None:
        _bps(self.pct, "pct")

    def as_params(self) -> tuple[int, int, float, float]:
        return self.kind, _bps(self.pct, "pct"), 0.0, 0.0


@dataclass(frozen=True)
class AtrRisk:
    """Risk `risk_pct` % of equity per trade, one unit risking `atr_mult` × ATR(atr_period)."""

    risk_pct: float
    atr_period: int = 14
    atr_mult: float = 2.0

    kind = ATR_RISK

    def __post_init__(self) -> None:
        _bps(self.risk_pct, "risk_pct")
        if not isinstance(self.atr_period, int) or self.atr_period < 1:
            raise InvalidInput("atr_period must be a positive integer", field="atr_period")
        if not self.atr_mult > 0:
            raise InvalidInput("atr_mult must be > 0", field="atr_mult")

    def as_params(self) -> tuple[int, int, float, float]:
        return self.kind, _bps(self.risk_pct, "risk_pct"), float(self.atr_mult), 0.0


Sizer = FixedQty | FixedCapital | PercentEquity | AtrRisk


def size_qty(kind: int, p_int: int, p_float: float, price_paise: int, equity_paise: int,
             atr_rupees: float, lot: int) -> int:
    """Units to trade (a multiple of `lot`, possibly 0). Mirrored in the numba fast path."""
    if kind == FIXED_QTY:
        q = p_int
    elif kind == FIXED_CAPITAL:
        q = p_int // price_paise
    elif kind == PCT_EQUITY:
        q = (max(equity_paise, 0) * p_int) // (10_000 * price_paise)
    else:
        per_unit = atr_rupees * 100.0 * p_float
        if not per_unit > 0:  # NaN during ATR warm-up, or zero range
            return 0
        risk = (max(equity_paise, 0) * p_int) // 10_000
        q = math.floor(risk / per_unit)
    return (q // lot) * lot
