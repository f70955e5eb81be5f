"""What pre-trade checks need to know about an instrument: tick, lot, freeze quantity, segment.

Loaded from the broker's instrument dump (Kite's CSV, which kitesim serves too) once per exchange
and kept in memory; `refresh()` reloads it (the dump changes daily with new contracts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mandi.core.errors import InvalidInput
from mandi.core.money import rupees_to_paise

# NSE freeze quantities (units per order) for index derivatives, effective 3 Nov 2025
# (kite-protocol.md §7). Orders above them are sliced into several orders.
FREEZE_QTY: dict[str, int] = {
    "NIFTY": 1800, "BANKNIFTY": 600, "FINNIFTY": 1800, "MIDCPNIFTY": 2800, "NIFTYNXT50": 600,
    "SENSEX": 1000, "BANKEX": 900,
}
DERIVATIVE_EXCHANGES = ("NFO", "BFO")


@dataclass(frozen=True)
class InstrumentInfo:
    exchange: str
    tradingsymbol: str
    instrument_token: int
    name: str
    instrument_type: str          # EQ | FUT | CE | PE | INDEX
    tick_paise: int
    lot_size: int

    @property
    def segment(self) -> str:
        """Ledger segment: EQUITY or DERIVATIVES."""
        return "DERIVATIVES" if self.exchange in DERIVATIVE_EXCHANGES else "EQUITY"

    @property
    def is_derivative(self) -> bool:
        return self.exchange in DERIVATIVE_EXCHANGES

    @property
    def freeze_qty(self) -> int | None:
        if not self.is_derivative:
            return None
        return FREEZE_QTY.get(self.name.upper().replace(" ", ""))

    def charges_segment(self, product: str) -> str:
        """The mandi.core.charges segment of this instrument under `product`. CNC is
        equity_delivery; the ledger prices it with `day_charges`, which charges the quantity
        bought and sold the same day at intraday rates (Zerodha's rule)."""
        if self.instrument_type == "FUT":
            return "futures"
        if self.instrument_type in ("CE", "PE"):
            return "options"
        return "equity_delivery" if product == "CNC" else "equity_intraday"

    @property
    def charges_exchange(self) -> str:
        return "BSE" if self.exchange in ("BSE", "BFO") else "NSE"


def info_from_row(row: dict[str, Any]) -> InstrumentInfo:
    tick = rupees_to_paise(row.get("tick_size") or 0.05) or 5
    itype = str(row.get("instrument_type") or "EQ")
    if str(row.get("segment", "")) == "INDICES":
        itype = "INDEX"
    return InstrumentInfo(
        exchange=str(row["exchange"]), tradingsymbol=str(row["tradingsymbol"]),
        instrument_token=int(row.get("instrument_token") or 0), name=str(row.get("name") or ""),
        instrument_type=itype, tick_paise=tick, lot_size=max(int(row.get("lot_size") or 1), 1))


class InstrumentCache:
    """Per-exchange instrument maps, loaded lazily by `load(exchange)`."""

    def __init__(self, load: Callable[[str], Awaitable[list[dict[str, Any]]]]) -> None:
        self._load = load
        self._by_exchange: dict[str, dict[str, InstrumentInfo]] = {}
        self._lock = asyncio.Lock()

    def put(self, info: InstrumentInfo) -> None:
        self._by_exchange.setdefault(info.exchange, {})[info.tradingsymbol] = info

    async def get(self, exchange: str, tradingsymbol: str) -> InstrumentInfo:
        table = self._by_exchange.get(exchange)
        if table is None:
            async with self._lock:
                table = self._by_exchange.get(exchange)
                if table is None:
                    rows = await self._load(exchange)
                    table = {}
                    for row in rows:
                        info = info_from_row(row)
                        table[info.tradingsymbol] = info
                    self._by_exchange[exchange] = table
        info = table.get(tradingsymbol)
        if info is None:
            raise InvalidInput(f"unknown symbol {exchange}:{tradingsymbol}", field="symbol")
        if info.instrument_type == "INDEX":
            raise InvalidInput(f"{exchange}:{tradingsymbol} is an index, not tradable",
                               field="symbol")
        return info

    def refresh(self) -> None:
        self._by_exchange.clear()
