"""Cash, open legs and closed trades shared by every symbol of a backtest (one capital pool).

Equity = cash + Σ signed quantity × last close; the engine rebuilds the curve from fill events.
Buying power = equity − margin blocked by open legs (notional × margin rate at entry).
"""

from __future__ import annotations

from typing import NamedTuple

from mandi.core.charges import Side
from mandi.core.strategies.base import Leg


class Trade(NamedTuple):
    """One round trip (immutable; a tuple because a long run books tens of thousands)."""

    symbol: str
    tag: str
    side: str  # "long" | "short"
    qty: int
    entry_ts: int
    entry_price_paise: int
    exit_ts: int
    exit_price_paise: int
    entry_charges_paise: int
    exit_charges_paise: int
    exit_reason: str

    @property
    def gross_pnl_paise(self) -> int:
        d = self.exit_price_paise - self.entry_price_paise
        return d * self.qty if self.side == "long" else -d * self.qty

    @property
    def charges_paise(self) -> int:
        return self.entry_charges_paise + self.exit_charges_paise

    @property
    def net_pnl_paise(self) -> int:
        return self.gross_pnl_paise - self.charges_paise


class Book:
    """Cash, blocked margin and the trade log. Positions live in each symbol's Context."""

    __slots__ = ("cash", "charges_paid", "fills", "margin_bps", "rejected", "trades", "turnover",
                 "used")

    def __init__(self, capital_paise: int, margin_bps: int) -> None:
        self.cash = capital_paise
        self.margin_bps = margin_bps
        self.used = 0
        self.trades: list[Trade] = []
        self.fills = 0
        self.rejected = 0
        self.charges_paid = 0
        self.turnover = 0

    def margin(self, qty: int, price_paise: int) -> int:
        return qty * price_paise * self.margin_bps // 10_000

    def open_leg(self, leg: Leg, charges_paise: int) -> None:
        signed = leg.qty if leg.side is Side.BUY else -leg.qty
        self.cash -= signed * leg.entry_price_paise + charges_paise
        self.used += self.margin(leg.qty, leg.entry_price_paise)
        self._account(leg.qty * leg.entry_price_paise, charges_paise)

    def close_leg(self, symbol: str, leg: Leg, price_paise: int, ts: int, charges_paise: int,
                  reason: str, entry_charges_paise: int | None = None) -> Trade:
        """Close `leg`; `entry_charges_paise`, when given, re-prices the entry's charges (a CNC
        leg sold the day it was bought pays intraday rates): the difference is settled now."""
        signed = leg.qty if leg.side is Side.BUY else -leg.qty
        entry_fee = leg.entry_charges_paise if entry_charges_paise is None else entry_charges_paise
        repriced = entry_fee - leg.entry_charges_paise
        self.cash += signed * price_paise - charges_paise - repriced
        self.used -= self.margin(leg.qty, leg.entry_price_paise)
        self._account(leg.qty * price_paise, charges_paise)
        self.charges_paid += repriced
        t = Trade(symbol, leg.tag, "long" if leg.side is Side.BUY else "short", leg.qty,
                  leg.entry_ts, leg.entry_price_paise, ts, price_paise, entry_fee,
                  charges_paise, reason)
        self.trades.append(t)
        return t

    def _account(self, notional: int, charges_paise: int) -> None:
        self.fills += 1
        self.turnover += notional
        self.charges_paid += charges_paise
