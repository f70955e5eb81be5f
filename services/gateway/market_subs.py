"""The instruments this gateway process has subscribed in marketdata for REST price reads.

`GET /api/v1/market/ltp` subscribes an instrument on first use: marketdata only has a price for
what someone subscribed. Subscriptions are reference-counted in marketdata across clients, so
the gateway takes one reference per instrument per process (not one per request, which would
never be released) and drops them all when it stops; `/ws/market/…?interval=` takes one more
per (instrument, interval), asking marketdata to build that interval's candles. The token of
each instrument comes back from Subscribe; GetLtp answers by token.
"""

from __future__ import annotations

import asyncio
import logging
import time

import grpc

from mandi.core import errors
from mandi.platform.protoconv import EXCHANGE_NAMES, symbol_ref
from mandi.platform.status import grpc_error_to_domain
from mandi.v1 import common_pb2, marketdata_pb2, marketdata_pb2_grpc

log = logging.getLogger(__name__)

MAX_HELD = 3000  # one Kite connection's worth; REST reads beyond that are refused
FIRST_PRICE_WAIT_S = 2.0  # how long a read waits for a new subscription's first tick
FIRST_PRICE_POLL_S = 0.1


def parse_key(key: str, field: str = "symbols") -> tuple[str, common_pb2.InstrumentRef]:
    """("NSE:INFY", its InstrumentRef) for a user's `EXCHANGE:SYMBOL` (any case)."""
    exchange, sep, symbol = key.strip().partition(":")
    if not sep or not exchange or not symbol.strip():
        raise errors.InvalidInput(f"{key.strip()!r} is not EXCHANGE:SYMBOL (e.g. NSE:INFY)",
                                  field=field)
    try:
        ref = symbol_ref(exchange, symbol, field=field)
    except errors.InvalidInput as exc:  # the exchange part: still the `symbols` parameter
        raise errors.InvalidInput(f"{key.strip()!r}: {exc.message}", field=field) from None
    return f"{EXCHANGE_NAMES[ref.symbol.exchange]}:{ref.symbol.tradingsymbol}", ref


class MarketSubscriptions:
    def __init__(self, stub: marketdata_pb2_grpc.MarketdataServiceStub, *,
                 max_held: int = MAX_HELD) -> None:
        self.stub = stub
        self.max_held = max_held
        self._token_of: dict[str, int] = {}
        self._candles: dict[tuple[str, str], int] = {}  # (key, interval) -> token (/ws/market)
        self._subscribed_at: dict[int, float] = {}  # token -> when this process subscribed it
        self._lock = asyncio.Lock()

    def token_of(self, key: str) -> int | None:
        return self._token_of.get(key)

    async def ensure(self, refs: dict[str, common_pb2.InstrumentRef],
                     mode: int = marketdata_pb2.TICK_MODE_LTP) -> list[str]:
        """Subscribe the keys not held yet; returns the keys subscribed now (their first price
        may still be on its way). NotFound/InvalidInput name the key and the `symbols` field."""
        async with self._lock:
            new = {k: r for k, r in refs.items() if k not in self._token_of}
            if not new:
                return []
            if len(self._token_of) + len(new) > self.max_held:
                raise errors.CapacityExceeded(
                    f"the gateway holds {len(self._token_of)} instruments for price reads; "
                    f"{len(new)} more would pass its limit of {self.max_held}",
                    field="symbols")
            try:
                await self._subscribe(new, mode)
            except errors.MandiError as exc:
                if len(new) == 1 or not isinstance(exc, errors.InvalidInput | errors.NotFound):
                    raise
                for k, r in new.items():  # which one was refused: name it
                    await self._subscribe({k: r}, mode)
            return list(new)

    async def prices(self, tokens: list[int]) -> dict[int, marketdata_pb2.Ltp]:
        """The last price of each token that has one. A token this process subscribed less
        than FIRST_PRICE_WAIT_S ago has its first tick on its way: read again until it has a
        price or that time has passed (REST `ltp`, the snapshots of /ws/market)."""
        if not tokens:
            return {}
        refs = [common_pb2.InstrumentRef(instrument_token=t) for t in tokens]
        while True:
            resp = await self.stub.GetLtp(marketdata_pb2.GetLtpRequest(instruments=refs))
            prices = {p.instrument_token: p for p in resp.prices if p.last_price_paise}
            until = max((self._subscribed_at.get(t, 0.0) + FIRST_PRICE_WAIT_S
                         for t in tokens if t not in prices), default=0.0)
            if time.monotonic() >= until:
                return prices
            await asyncio.sleep(FIRST_PRICE_POLL_S)

    def candle_token(self, key: str, interval: str) -> int:
        return self._candles.get((key, interval), 0)

    async def ensure_candles(self, key: str, ref: common_pb2.InstrumentRef,
                             interval: str) -> int:
        """Ask marketdata to build `interval` candles of the instrument: one more reference per
        (instrument, interval) per process, released at close; the instrument's token."""
        async with self._lock:
            token = self._candles.get((key, interval))
            if token is None:
                found = await self._subscribe({key: ref}, marketdata_pb2.TICK_MODE_QUOTE,
                                              intervals=(interval,), record=False)
                token = self._candles[(key, interval)] = found.get(key, 0)
            return token

    async def _subscribe(self, refs: dict[str, common_pb2.InstrumentRef], mode: int,
                         intervals: tuple[str, ...] = (), record: bool = True
                         ) -> dict[str, int]:
        try:
            resp = await self.stub.Subscribe(marketdata_pb2.SubscribeRequest(
                instruments=list(refs.values()), mode=mode, candle_intervals=list(intervals)))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                raise
            err = grpc_error_to_domain(exc)
            if len(refs) == 1 and isinstance(err, errors.InvalidInput | errors.NotFound):
                key = next(iter(refs))
                raise type(err)(f"{key}: {err.message}", field="symbols") from None
            raise err from None
        by_name = {f"{EXCHANGE_NAMES.get(i.exchange, '')}:{i.tradingsymbol}": i.instrument_token
                   for i in resp.subscribed}
        found = {}
        for n, key in enumerate(refs):
            token = by_name.get(key)
            if token is None and len(resp.subscribed) == len(refs):
                token = resp.subscribed[n].instrument_token
            if token:
                found[key] = token
                self._subscribed_at.setdefault(token, time.monotonic())
        if record:
            self._token_of.update(found)
        return found

    async def close(self) -> None:
        """Drop this process's references (best effort: marketdata may be gone already): the
        price reads' in one call, each candle interval's in its own (one reference each)."""
        batches = [list(self._token_of.values())] if self._token_of else []
        batches += [[t] for t in self._candles.values() if t]
        for tokens in batches:
            refs = [common_pb2.InstrumentRef(instrument_token=t) for t in tokens]
            try:
                await self.stub.Unsubscribe(
                    marketdata_pb2.UnsubscribeRequest(instruments=refs), timeout=2.0)
            except grpc.aio.AioRpcError as exc:
                log.info("marketdata Unsubscribe on shutdown: %s", exc.code().name)
                break
        self._token_of.clear()
        self._candles.clear()
        self._subscribed_at.clear()
