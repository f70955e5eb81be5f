"""`GET /api/v1/symbols?q=&exchange=&limit=`: seed 002's cached symbol list for search and
autocomplete (the web UI's backtest form and watchlist), from the gateway's in-process copy of
history's instrument master (symbol_cache.py, refreshed every 10 minutes).

Without `exchange` it searches the equity exchanges (NSE, then BSE). Symbols whose trading
symbol starts with `q` come first, then those containing it in the symbol or the name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from mandi.platform.protoconv import exchange_enum
from services.gateway.routers.data import Stubs
from services.gateway.symbol_cache import SymbolCache, search

router = APIRouter(prefix="/api/v1", tags=["market"])
DEFAULT_EXCHANGES = ("NSE", "BSE")


def symbol_cache(request: Request) -> SymbolCache:
    cache = getattr(request.app.state, "symbols", None)
    if cache is None:
        cache = request.app.state.symbols = SymbolCache()
    return cache


@router.get("/symbols")
async def symbols(request: Request, stubs: Stubs,
                  q: Annotated[str, Query(max_length=64)] = "",
                  exchange: Annotated[str | None, Query(max_length=8)] = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    exchanges = DEFAULT_EXCHANGES
    if exchange:
        exchange_enum(exchange)  # 400 naming `exchange` when unknown
        exchanges = (exchange.strip().upper(),)
    cache = symbol_cache(request)
    found, loaded = [], []
    for ex in exchanges:
        items, at = await cache.symbols(stubs.history, ex)
        loaded.append(at)
        found += search(items, q, limit - len(found))
        if len(found) >= limit:
            break
    return {"success": True, "query": q, "exchanges": list(exchanges), "count": len(found),
            "symbols": [s.json() for s in found],
            "cached_at": datetime.fromtimestamp(min(loaded), UTC).isoformat()}
