"""`/ws/market/{symbol}` (symbol `EXCHANGE:SYMBOL`, e.g. NSE:INFY): live ticks from marketdata.

The gateway subscribes the instrument in marketdata once per process (market_subs, QUOTE mode:
price, volume, OHLC) and reads it with one StreamTicks per instrument per process, fanned out to
every socket on it. Snapshot = the last price marketdata holds (a new subscription's first tick
waited for up to 2 s; null if none came);
then one `tick` message per tick (prices in rupees as the exchange quotes them; `dropped`
counts ticks marketdata conflated away for this gateway when it fell behind).

With `?interval=minute` (… 60minute) the socket gets that interval's closed candles instead:
`candle` messages from one StreamCandles per (instrument, interval) per process, marketdata
asked to build them (market_subs.ensure_candles); candles marketdata never drops. The
day's earlier candles are `GET /api/v1/market/candles/…`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import WebSocket

from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from mandi.core.intervals import parse_interval
from mandi.platform.grpc_client import STREAM_TIMEOUT_S
from mandi.platform.protoconv import from_timestamp, has_timestamp
from mandi.v1 import common_pb2, marketdata_pb2
from services.gateway.auth.principal import Principal
from services.gateway.market_subs import parse_key
from services.gateway.ws.channels import Channel
from services.gateway.ws.hub import RESYNC
from services.gateway.ws.topic import Topic


async def symbol_of(ws: WebSocket, _who: Principal, app: Any) -> str:
    key, ref = parse_key(str(ws.path_params.get("symbol", "")), field="symbol")
    await app.state.market.ensure({key: ref}, mode=marketdata_pb2.TICK_MODE_QUOTE)
    return key


def _token(app: Any, key: str) -> int:
    return app.state.market.token_of(key) or 0


def _ticks(app: Any, key: str, _who: Principal) -> Any:
    return app.state.backends.marketdata.StreamTicks(
        marketdata_pb2.StreamTicksRequest(instrument_tokens=[_token(app, key)]),
        timeout=STREAM_TIMEOUT_S)


def _ts(ts: Any) -> str | None:
    return from_timestamp(ts).astimezone(IST).isoformat() if has_timestamp(ts) else None


def tick_json(symbol: str, t: common_pb2.Tick) -> dict[str, Any]:
    return {"symbol": symbol, "instrument_token": t.instrument_token,
            "last_price": t.last_price, "last_traded_quantity": t.last_traded_quantity,
            "average_traded_price": t.average_traded_price, "volume_traded": t.volume_traded,
            "total_buy_quantity": t.total_buy_quantity,
            "total_sell_quantity": t.total_sell_quantity, "open": t.open, "high": t.high,
            "low": t.low, "close": t.close, "oi": t.oi, "exchange_ts": _ts(t.exchange_ts)}


async def market_snapshot(app: Any, key: str, _who: Principal) -> dict[str, Any]:
    token = _token(app, key)
    return {"symbol": key, "instrument_token": token, **await _last_price(app, token)}


async def _last_price(app: Any, token: int) -> dict[str, Any]:
    """A snapshot's price: marketdata's last (a new subscription's first tick waited for)."""
    price = (await app.state.market.prices([token])).get(token)
    return {"last_price": price.last_price_paise / 100 if price else None,
            "ts": _ts(price.ts) if price else None}


def _listener(topic: Topic, _work: set[asyncio.Task[Any]], _app: Any, _who: Principal
              ) -> Callable[[Any], None]:
    def on_event(msg: Any) -> None:
        if msg is RESYNC:
            return  # the next tick carries the whole quote
        for t in msg.ticks:
            data = tick_json(topic.key, t)
            if msg.dropped:
                data["dropped"] = msg.dropped
            topic.publish("tick", data)
    return on_event


MARKET = Channel("market", "ticks", symbol_of, _ticks, market_snapshot, _listener)


# --- candles: /ws/market/{symbol}?interval=minute ------------------------------------------------
def _split(key: str) -> tuple[str, str]:
    symbol, _, interval = key.partition("|")
    return symbol, interval


async def candles_of(ws: WebSocket, _who: Principal, app: Any) -> str:
    key, ref = parse_key(str(ws.path_params.get("symbol", "")), field="symbol")
    interval = parse_interval(ws.query_params.get("interval", ""))
    if not interval.is_intraday:
        raise InvalidInput("live candles are intraday (minute … 60minute)", field="interval")
    await app.state.market.ensure_candles(key, ref, interval.name)
    return f"{key}|{interval.name}"


def _candles(app: Any, key: str, _who: Principal) -> Any:
    symbol, interval = _split(key)
    token = app.state.market.candle_token(symbol, interval)
    return app.state.backends.marketdata.StreamCandles(marketdata_pb2.StreamCandlesRequest(
        instrument_tokens=[token], interval=interval), timeout=STREAM_TIMEOUT_S)


async def candles_snapshot(app: Any, key: str, who: Principal) -> dict[str, Any]:
    symbol, interval = _split(key)
    token = app.state.market.candle_token(symbol, interval)
    return {"symbol": symbol, "interval": interval, "instrument_token": token,
            **await _last_price(app, token)}


def _candle_listener(topic: Topic, _work: set[asyncio.Task[Any]], _app: Any, _who: Principal
                     ) -> Callable[[Any], None]:
    symbol, interval = _split(topic.key)
    last: Any = None

    def on_event(msg: Any) -> None:
        nonlocal last
        if msg is RESYNC:
            return
        c = msg.candle
        data = {"symbol": symbol, "interval": interval, "ts": _ts(c.ts), "open": c.open,
                "high": c.high, "low": c.low, "close": c.close, "volume": c.volume,
                "oi": c.oi, "closed": msg.closed}
        if data == last:  # a re-opened stream may repeat its newest candle
            return
        last = data
        topic.publish("candle", data)
    return on_event


MARKET_CANDLES = Channel("market", "candles", candles_of, _candles, candles_snapshot,
                         _candle_listener)
