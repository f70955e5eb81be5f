"""`/api/v1/market`: live prices and today's candles over REST, read from the marketdata and
history services.

- `GET /api/v1/market/ltp?symbols=NSE:INFY,NSE:SBIN`: last prices from marketdata's LTP cache.
  An instrument nobody subscribed has no price there, so the first request for it subscribes
  it (one reference per gateway process, see market_subs) and waits briefly for its first
  price; a symbol still without one is reported as null with a note, never dropped.
- `GET /api/v1/market/candles/{exchange}/{symbol}?interval=minute[&from=&to=]`: closed candles
  of today's IST session by default. Marketdata writes closed tick-built candles to history as
  provisional rows and backfilled ones (Kite's) as final, so history's GetCandles is the one
  place holding both.
"""

from __future__ import annotations

from typing import Annotated, Any

import grpc
import numpy as np
from fastapi import APIRouter, Depends, Query, Request

from mandi.core.calendar import session_close, session_open
from mandi.core.clock import IST, to_ist
from mandi.core.errors import InvalidInput, NotFound
from mandi.core.intervals import INTERVALS, parse_interval
from mandi.platform.protoconv import (
    from_timestamp,
    has_timestamp,
    parse_ist,
    symbol_ref,
    to_timestamp,
)
from mandi.platform.status import grpc_error_to_domain
from mandi.v1 import common_pb2, history_pb2, marketdata_pb2
from services.gateway.candle_format import ist_strings
from services.gateway.clients import Backends
from services.gateway.deps import backends
from services.gateway.market_subs import MarketSubscriptions, parse_key
from services.gateway.schemas.market import CandlesResponse, LtpResponse

router = APIRouter(prefix="/api/v1/market", tags=["market"])
Stubs = Annotated[Backends, Depends(backends)]

MAX_SYMBOLS = 500
TICK_INTERVALS = tuple(name for name, i in INTERVALS.items() if i.is_intraday)


def _keys(symbols: str) -> dict[str, common_pb2.InstrumentRef]:
    parts = [p for p in (symbols or "").split(",") if p.strip()]
    if not parts:
        raise InvalidInput("give one or more EXCHANGE:SYMBOL, comma-separated", field="symbols")
    if len(parts) > MAX_SYMBOLS:
        raise InvalidInput(f"{len(parts)} symbols; at most {MAX_SYMBOLS} per request",
                           field="symbols")
    return dict(parse_key(p) for p in parts)


def _price_json(p: marketdata_pb2.Ltp | None) -> dict[str, Any] | None:
    if p is None:
        return None
    ts = from_timestamp(p.ts).astimezone(IST).isoformat() if has_timestamp(p.ts) else None
    return {"last_price": p.last_price_paise / 100, "ts": ts}


@router.get("/ltp", response_model=LtpResponse, response_model_exclude_none=False)
async def ltp(request: Request,
              symbols: Annotated[str, Query(description="EXCHANGE:SYMBOL, comma-separated",
                                            examples=["NSE:INFY,NSE:SBIN"])]
              ) -> dict[str, Any]:
    refs = _keys(symbols)
    subs: MarketSubscriptions = request.app.state.market
    await subs.ensure(refs)
    tokens = {k: subs.token_of(k) for k in refs}
    # a just-subscribed instrument's first tick is on its way: waited for, with a deadline
    prices = await subs.prices([t for t in tokens.values() if t])
    out: dict[str, Any] = {"ltp": {k: _price_json(prices.get(tokens[k])) for k in refs}}
    missing = [k for k, v in out["ltp"].items() if v is None]
    if missing:
        out["note"] = (f"no price yet for {', '.join(missing)}: subscribed, but no tick has "
                       "arrived (the market may be closed or the instrument not trading); "
                       "ask again shortly")
    return out


def _interval(name: str) -> str:
    iv = parse_interval(name, field="interval")
    if not iv.is_intraday:
        raise InvalidInput(f"interval {iv.name!r} is not built from ticks; expected one of "
                           f"{', '.join(TICK_INTERVALS)}", field="interval")
    return iv.name


@router.get("/candles/{exchange}/{symbol}", response_model=CandlesResponse)
async def candles(request: Request, exchange: str, symbol: str, stubs: Stubs,
                  interval: str = "minute",
                  from_: Annotated[str | None, Query(alias="from")] = None,
                  to: str | None = None) -> dict[str, Any]:
    name = _interval(interval)
    ref = symbol_ref(exchange, symbol)
    day = to_ist(request.app.state.clock.now()).date()
    start = parse_ist(from_, field="from") if from_ else session_open(day)
    end = parse_ist(to, field="to", end_of_day=True) if to else session_close(day)
    if start >= end:
        raise InvalidInput(f"from {start.astimezone(IST).isoformat()} is not before to "
                           f"{end.astimezone(IST).isoformat()}", field="from")
    req = history_pb2.GetCandlesRequest(instrument=ref, interval=name)
    getattr(req, "from").CopyFrom(to_timestamp(start))
    req.to.CopyFrom(to_timestamp(end))
    rows: list[dict[str, Any]] = []
    try:
        batches = [r.batch async for r in stubs.history.GetCandles(req)]
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        raise NotFound(f"no {ref.symbol.tradingsymbol} on {exchange.upper()}: "
                       f"{grpc_error_to_domain(exc).message}", field="symbol") from None
    for b in batches:
        if not b.ts_unix_ms:
            continue
        for ts, o, h, lo, c, v, oi in zip(
                ist_strings(np.asarray(b.ts_unix_ms, dtype="int64")).tolist(), b.open, b.high,
                b.low, b.close, b.volume, b.oi, strict=True):
            rows.append({"ts": ts, "open": o, "high": h, "low": lo, "close": c, "volume": v,
                         "oi": oi})
    return {"candles": rows}
