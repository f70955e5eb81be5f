"""The gateway's in-process cache of the instrument master, for `/api/v1/symbols` (seed 002:
"cached symbol list for search/autocomplete") and for checking watchlist symbols.

One list per exchange, loaded from history's `ListInstruments` on first use and kept for
`TTL_S`; concurrent misses of one exchange share a single load. A failed load is not cached
(the next request tries again). Each replica holds its own copy: the master changes once a day.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from mandi.platform.protoconv import EXCHANGE_NAMES, INSTRUMENT_TYPE_NAMES, exchange_enum
from mandi.v1 import common_pb2, history_pb2

TTL_S = 600.0


@dataclass(frozen=True)
class Symbol:
    exchange: str
    tradingsymbol: str
    name: str
    instrument_type: str
    instrument_token: int
    lot_size: int
    tick_size: float
    expiry: str

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    def json(self) -> dict[str, Any]:
        return {"symbol": self.key, "exchange": self.exchange,
                "tradingsymbol": self.tradingsymbol, "name": self.name,
                "instrument_type": self.instrument_type,
                "instrument_token": self.instrument_token, "lot_size": self.lot_size,
                "tick_size": self.tick_size, "expiry": self.expiry or None}


def _symbol(inst: common_pb2.Instrument) -> Symbol:
    return Symbol(EXCHANGE_NAMES.get(inst.exchange, ""), inst.tradingsymbol, inst.name,
                  INSTRUMENT_TYPE_NAMES.get(inst.instrument_type, ""), inst.instrument_token,
                  inst.lot_size, inst.tick_size_paise / 100, inst.expiry)


class SymbolCache:
    def __init__(self, ttl_s: float = TTL_S) -> None:
        self.ttl_s = ttl_s
        self._lists: dict[str, tuple[float, list[Symbol], dict[str, Symbol]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.loads = 0  # how many times history was asked (tests read it)

    async def symbols(self, history: Any, exchange: str) -> tuple[list[Symbol], float]:
        """The exchange's instruments and when they were loaded (epoch seconds)."""
        entry = await self._entry(history, exchange)
        return entry[1], entry[0]

    async def find(self, history: Any, exchange: str, tradingsymbol: str) -> Symbol | None:
        return (await self._entry(history, exchange))[2].get(tradingsymbol.upper())

    async def _entry(self, history: Any, exchange: str
                     ) -> tuple[float, list[Symbol], dict[str, Symbol]]:
        exchange = exchange.strip().upper()
        ex = exchange_enum(exchange)
        entry = self._lists.get(exchange)
        if entry is not None and time.time() - entry[0] < self.ttl_s:
            return entry
        async with self._locks.setdefault(exchange, asyncio.Lock()):
            entry = self._lists.get(exchange)
            if entry is not None and time.time() - entry[0] < self.ttl_s:
                return entry
            resp = await history.ListInstruments(history_pb2.ListInstrumentsRequest(exchange=ex))
            self.loads += 1
            items = sorted((_symbol(i) for i in resp.instruments),
                           key=lambda s: s.tradingsymbol)
            entry = (time.time(), items, {s.tradingsymbol: s for s in items})
            self._lists[exchange] = entry
            return entry


def search(items: list[Symbol], q: str, limit: int) -> list[Symbol]:
    """Symbols whose trading symbol starts with `q` first, then those containing it in the
    symbol or the name; case-insensitive."""
    q = q.strip().upper()
    if not q:
        return items[:limit]
    first = [s for s in items if s.tradingsymbol.startswith(q)]
    if len(first) >= limit:
        return first[:limit]
    rest = [s for s in items if not s.tradingsymbol.startswith(q)
            and (q in s.tradingsymbol or q in s.name.upper())]
    return (first + rest)[:limit]
