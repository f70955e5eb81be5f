"""What pre-trade checks need to know about an instrument: tick, lot, freeze quantity, segment.

Loaded from the broker's instrument dump (Kite's CSV, which kitesim serves too) once per exchange
and kept in memory; `refresh()` reloads it (the dump changes daily with new contracts).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mandi.core.errors import ConfigError, InvalidInput
from mandi.core.money import rupees_to_paise

# Freeze quantities (units per order; larger orders are sliced) are data, not code: NSE revises
# them roughly monthly. The shipped table is data/freeze_qty.csv (underlying,kind,freeze_qty);
# MANDI_EXECUTION_FREEZE_QTY_FILE names a file of the same shape that replaces it, read at the
# first order after start (or after `reload_freeze_table()`). `kind` is index or stock: a CE/PE
# on a `stock` underlying, or on any underlying not listed as an index, is a stock option.
FREEZE_QTY_CSV = Path(__file__).resolve().parent / "data" / "freeze_qty.csv"
FREEZE_KINDS = ("index", "stock")


@dataclass(frozen=True)
class FreezeTable:
    freeze: dict[str, int]
    indices: frozenset[str]
    source: str

    @classmethod
    def from_file(cls, path: str | Path) -> FreezeTable:
        """Parse the CSV; a bad row is an error naming the file and line, never a silent skip."""
        freeze: dict[str, int] = {}
        indices: set[str] = set()
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise ConfigError(f"cannot read the freeze-quantity file {path}: {exc.strerror}",
                              field="execution_freeze_qty_file") from None
        reader = csv.DictReader(io.StringIO(text))
        if set(reader.fieldnames or ()) < {"underlying", "kind", "freeze_qty"}:
            raise ConfigError(f"{path}: the header must be underlying,kind,freeze_qty",
                              field="execution_freeze_qty_file")
        for line, row in enumerate(reader, 2):
            name = _norm(row["underlying"] or "")
            kind = (row["kind"] or "").strip().lower()
            qty = (row["freeze_qty"] or "").strip()
            if not name or kind not in FREEZE_KINDS or not qty.isdigit() or int(qty) <= 0:
                raise ConfigError(f"{path}:{line}: expected underlying, kind (index|stock) and "
                                  "a positive freeze_qty", field="execution_freeze_qty_file")
            freeze[name] = int(qty)
            if kind == "index":
                indices.add(name)
        return cls(freeze, frozenset(indices), str(path))


_freeze_table: FreezeTable | None = None


def freeze_table() -> FreezeTable:
    global _freeze_table
    if _freeze_table is None:
        from mandi.platform.config import load_settings

        override = load_settings().execution_freeze_qty_file
        _freeze_table = FreezeTable.from_file(override or FREEZE_QTY_CSV)
    return _freeze_table


def reload_freeze_table() -> FreezeTable:
    """Forget the loaded table; the next lookup reads the file again."""
    global _freeze_table
    _freeze_table = None
    return freeze_table()


def _norm(name: str) -> str:
    return name.upper().replace(" ", "")


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
        return freeze_table().freeze.get(_norm(self.name))

    @property
    def is_stock_option(self) -> bool:
        """A CE/PE on a stock (Zerodha blocks MARKET and SL-M orders on these)."""
        return self.is_derivative and self.instrument_type in ("CE", "PE") and \
            _norm(self.name) not in freeze_table().indices

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
