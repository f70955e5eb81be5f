"""Seed 002's watchlist, per signed-in user: `GET /api/v1/watchlist`, `PUT /api/v1/watchlist`
`{"symbols": [...]}` (replace), `POST /api/v1/watchlist/add` and `/remove` `{"symbol":
"NSE:INFY"}`. Stored in the gateway's schema (migration 003), in the order added.

A symbol is `EXCHANGE:TRADINGSYMBOL` (a bare symbol means NSE) and must be in the instrument
master (the cached list behind /api/v1/symbols, then history's lookup for a listing newer than
the cache): otherwise 400 naming `symbol`. Add and remove are idempotent (`changed` says whether
anything changed); a list holds at most 200 symbols.
"""

from __future__ import annotations

from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from mandi.core.errors import InvalidInput
from mandi.platform.protoconv import symbol_ref
from mandi.v1 import history_pb2
from services.gateway.auth.enforce import Me
from services.gateway.prefs_store import MAX_WATCHLIST, PrefsStore
from services.gateway.routers.auth import Host
from services.gateway.routers.data import Stubs
from services.gateway.routers.symbols import symbol_cache

router = APIRouter(prefix="/api/v1/watchlist", tags=["watchlist"])


class SymbolBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(min_length=1, max_length=80)


class WatchlistBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbols: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(
        max_length=MAX_WATCHLIST)


async def prefs(host: Host) -> PrefsStore:
    assert host.pool is not None
    return PrefsStore(host.pool)


Prefs = Annotated[PrefsStore, Depends(prefs)]


def split_symbol(text: str, field: str = "symbol") -> tuple[str, str]:
    exchange, sep, sym = text.strip().upper().rpartition(":")
    if not sep:
        exchange = "NSE"
    ref = symbol_ref(exchange, sym, field=field).symbol  # 400 naming the field if malformed
    return exchange, ref.tradingsymbol


async def checked(request: Request, stubs: Any, text: str, field: str = "symbol") -> str:
    """`EXCHANGE:TRADINGSYMBOL` of a listed instrument, or InvalidInput naming `field`."""
    try:
        exchange, sym = split_symbol(text, field)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=field) from None
    if await symbol_cache(request).find(stubs.history, exchange, sym) is None:
        try:
            await stubs.history.LookupInstrument(history_pb2.LookupInstrumentRequest(
                symbol=symbol_ref(exchange, sym).symbol))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            raise InvalidInput(f"{exchange}:{sym} is not in the instrument master",
                               field=field) from None
    return f"{exchange}:{sym}"


async def _answer(store: PrefsStore, who: Me, **extra: Any) -> dict[str, Any]:
    items = await store.watchlist(who.username)
    return {"success": True, **extra, "count": len(items),
            "symbols": [i["symbol"] for i in items], "items": items}


@router.get("")
async def get_watchlist(store: Prefs, who: Me) -> dict[str, Any]:
    return await _answer(store, who)


@router.put("")
async def replace_watchlist(request: Request, body: WatchlistBody, stubs: Stubs, store: Prefs,
                            who: Me) -> dict[str, Any]:
    symbols: list[str] = []
    for i, text in enumerate(body.symbols):
        sym = await checked(request, stubs, text, field=f"symbols.{i}")
        if sym not in symbols:
            symbols.append(sym)
    await store.replace_watchlist(who.username, symbols)
    return await _answer(store, who)


@router.post("/add")
async def add(request: Request, body: SymbolBody, stubs: Stubs, store: Prefs,
              who: Me) -> dict[str, Any]:
    sym = await checked(request, stubs, body.symbol)
    changed = await store.add(who.username, sym)
    return await _answer(store, who, symbol=sym, changed=changed)


@router.post("/remove")
async def remove(body: SymbolBody, store: Prefs, who: Me) -> dict[str, Any]:
    """Removing needs no lookup: a delisted symbol can still be taken off the list."""
    exchange, sym = split_symbol(body.symbol)
    changed = await store.remove(who.username, f"{exchange}:{sym}")
    return await _answer(store, who, symbol=f"{exchange}:{sym}", changed=changed)
