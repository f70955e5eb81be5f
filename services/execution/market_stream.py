"""Quotes from the marketdata service's tick stream, with Kite's REST quote as the fallback.

Kite allows one quote call a second per API key, and the paper broker, trailing stops and
mark-to-market all want prices all day. So execution reads prices the way every live consumer
does (issue #11): it Subscribes each instrument once (mode FULL, so the depth gives bid/ask),
keeps one background StreamTicks per process, and answers a quote from the latest tick.

The REST path stays, behind a fallback, for what the stream cannot answer: marketdata down (or
its stream broken), an instrument with no tick for `fresh_s` (the ingester died, or the
instrument is not trading), an instrument marketdata does not know. Every fallback is counted
(`metrics.QUOTE_FALLBACKS`) and the state changes are logged.

Circuit limits are not in ticks. A streamed quote carries the limits of the last REST quote of
the same instrument and day when there was one, and 0 (= unknown, as `Quote` spells it) when
there was none.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import grpc

from mandi.core.clock import to_ist
from mandi.core.errors import InvalidInput
from mandi.platform.grpc_client import STREAM_TIMEOUT_S, channel
from mandi.platform.protoconv import EXCHANGE_NAMES, from_timestamp, has_timestamp, symbol_ref
from mandi.platform.retry import backoff_delay
from mandi.v1 import common_pb2, marketdata_pb2, marketdata_pb2_grpc
from services.execution import metrics
from services.execution.brokers.base import Quote
from services.execution.marketdata import MarketData, quote_from_kite

log = logging.getLogger(__name__)

DOWN, STALE, UNKNOWN = "down", "stale", "unknown"
_DOWN_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                         grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.INTERNAL,
                         grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED})


def quote_from_tick(t: common_pb2.Tick) -> Quote:
    """A Quote of a marketdata Tick: the depth (FULL mode) gives bid and ask, in Kite's shape."""
    depth = {side: [{"price": d.price, "quantity": d.quantity, "orders": d.orders}
                    for d in levels] for side, levels in (("buy", t.bids), ("sell", t.asks))}
    q = quote_from_kite({"last_price": t.last_price, "depth": depth})
    if has_timestamp(t.exchange_ts):
        ts = from_timestamp(t.exchange_ts)
    elif t.received_unix_ns:
        ts = datetime.fromtimestamp(t.received_unix_ns / 1e9, UTC)
    else:
        ts = None
    return dataclasses.replace(q, ts=ts)


def _ref(key: str) -> common_pb2.InstrumentRef:
    exchange, sep, symbol = key.partition(":")
    if not sep:
        raise InvalidInput(f"instrument key {key!r} is not EXCHANGE:SYMBOL", field="instrument")
    return symbol_ref(exchange, symbol, field="instrument")


class TickStream:
    """One per process: the instruments execution asked about, subscribed once each, and the
    latest tick of each from one StreamTicks call (restarted when the set grows)."""

    def __init__(self, stub: marketdata_pb2_grpc.MarketdataServiceStub, *,
                 channel: grpc.aio.Channel | None = None, fresh_s: float = 3.0,
                 first_tick_wait_s: float = 0.5, retry_s: float = 5.0,
                 unknown_retry_s: float = 300.0, rpc_timeout_s: float = 2.0) -> None:
        self.stub = stub
        self._channel = channel  # closed with the stream when given
        self.fresh_s = fresh_s
        self.first_tick_wait_s = first_tick_wait_s
        self.retry_s = retry_s
        self.unknown_retry_s = unknown_retry_s
        self.rpc_timeout_s = rpc_timeout_s
        self._token_of: dict[str, int] = {}
        self._key_of: dict[int, str] = {}
        self._unknown: dict[str, float] = {}  # key -> monotonic time to ask again
        # token → [arrived (monotonic), tick, its Quote once asked for]: a tick is converted
        # at most once, however many orders read it before the next one arrives
        self._latest: dict[int, list[Any]] = {}
        self._down_until = 0.0
        self._streaming = False  # the current StreamTicks call has delivered a message
        self._sub_lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._arrived = asyncio.Event()
        self._closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def up(self) -> bool:
        return self._streaming

    def subscribed(self) -> dict[str, int]:
        return dict(self._token_of)

    # --- quotes ----------------------------------------------------------------------------
    async def quotes(self, keys: list[str]) -> tuple[dict[str, Quote], dict[str, str]]:
        """(quotes from fresh ticks, reason per key that has none: down / stale / unknown).
        Subscribes keys seen for the first time, and waits up to `first_tick_wait_s` for
        their first tick; never waits on a marketdata that is known to be down."""
        if self._closed.is_set():
            return {}, dict.fromkeys(keys, DOWN)
        now = time.monotonic()
        new = [k for k in dict.fromkeys(keys)
               if k not in self._token_of and self._unknown.get(k, 0.0) <= now]
        if new and now >= self._down_until:
            added = await self._subscribe(new)
            if added:
                await self._first_ticks(added)
        out: dict[str, Quote] = {}
        missing: dict[str, str] = {}
        now = time.monotonic()
        for k in keys:
            token = self._token_of.get(k)
            if token is None:
                missing[k] = UNKNOWN if k in self._unknown else DOWN
                continue
            hit = self._latest.get(token)
            if not self._streaming:
                missing[k] = DOWN
            elif hit is None or now - hit[0] > self.fresh_s:
                missing[k] = STALE
            else:
                if hit[2] is None:
                    hit[2] = quote_from_tick(hit[1])
                out[k] = hit[2]
        return out, missing

    async def _first_ticks(self, tokens: list[int]) -> None:
        deadline = time.monotonic() + self.first_tick_wait_s
        while True:
            self._arrived.clear()
            if all(t in self._latest for t in tokens):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    # --- subscriptions ---------------------------------------------------------------------
    async def _subscribe(self, keys: list[str]) -> list[int]:
        """Subscribe the keys not subscribed yet; returns their tokens. An instrument
        marketdata refuses (unknown, bad, over capacity) is skipped for `unknown_retry_s`; an
        unreachable marketdata is not asked again for `retry_s`."""
        async with self._sub_lock:
            keys = [k for k in keys if k not in self._token_of]
            refs: list[tuple[str, common_pb2.InstrumentRef]] = []
            for k in keys:
                try:
                    refs.append((k, _ref(k)))
                except InvalidInput:
                    self._unknown[k] = time.monotonic() + self.unknown_retry_s
            if not refs:
                return []
            added = await self._subscribe_refs(refs)
            if added:
                self._changed.set()
                self._ensure_task()
            return added

    async def _subscribe_refs(self, refs: list[tuple[str, common_pb2.InstrumentRef]]
                              ) -> list[int]:
        try:
            resp = await self.stub.Subscribe(marketdata_pb2.SubscribeRequest(
                instruments=[r for _, r in refs], mode=marketdata_pb2.TICK_MODE_FULL),
                timeout=self.rpc_timeout_s)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _DOWN_CODES:
                self._mark_down(f"Subscribe: {exc.code().name}")
                return []
            if len(refs) > 1:  # one refused instrument must not keep the others off the stream
                added: list[int] = []
                for one in refs:
                    added += await self._subscribe_refs([one])
                    if time.monotonic() < self._down_until:
                        break
                return added
            key = refs[0][0]
            self._unknown[key] = time.monotonic() + self.unknown_retry_s
            log.warning("marketdata refused %s (%s: %s); quoting it through Kite's REST API",
                        key, exc.code().name, exc.details())
            return []
        by_name = {f"{EXCHANGE_NAMES.get(i.exchange, '')}:{i.tradingsymbol}": i.instrument_token
                   for i in resp.subscribed}
        added = []
        for n, (key, _) in enumerate(refs):
            token = by_name.get(key)
            if token is None and len(resp.subscribed) == len(refs):
                token = resp.subscribed[n].instrument_token  # same order as asked
            if not token:
                self._unknown[key] = time.monotonic() + self.unknown_retry_s
                continue
            self._token_of[key] = token
            self._key_of[token] = key
            self._unknown.pop(key, None)
            added.append(token)
        return added

    def _mark_down(self, why: str) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("marketdata unreachable (%s): quotes fall back to Kite's REST API; "
                        "asking again in %.0f s", why, self.retry_s)
        self._down_until = time.monotonic() + self.retry_s

    # --- the stream ------------------------------------------------------------------------
    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="marketdata-ticks")

    async def _run(self) -> None:
        attempt = 0
        while not self._closed.is_set():
            self._changed.clear()
            tokens = sorted(self._key_of)
            call = self.stub.StreamTicks(marketdata_pb2.StreamTicksRequest(
                instrument_tokens=tokens), timeout=STREAM_TIMEOUT_S)
            reader = asyncio.create_task(self._read(call))
            changed = asyncio.create_task(self._changed.wait())
            closed = asyncio.create_task(self._closed.wait())
            await asyncio.wait({reader, changed, closed}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (changed, closed):
                waiter.cancel()
            if not reader.done():  # the set grew, or closing: restart with the new set
                call.cancel()
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                    await reader
                attempt = 0
                continue
            exc = reader.exception()
            if self._streaming or attempt == 0:
                log.warning("marketdata tick stream ended (%s): quotes fall back to Kite's "
                            "REST API until it is back", _why(exc))
            self._streaming = False
            if exc is None:
                attempt = 0  # the server ended it cleanly (a restart): reconnect at once
            delay = backoff_delay(attempt, 0.5, self.retry_s)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), delay)

    async def _read(self, call: Any) -> None:
        async for resp in call:
            if not self._streaming:
                log.info("marketdata tick stream up (%d instruments)", len(self._key_of))
                self._streaming = True
            now = time.monotonic()
            for t in resp.ticks:
                self._latest[t.instrument_token] = [now, t, None]
            self._arrived.set()

    async def close(self) -> None:
        """Stop the stream and drop this process's references to its subscriptions."""
        self._closed.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._streaming = False
        if self._token_of:
            refs = [common_pb2.InstrumentRef(instrument_token=t) for t in self._key_of]
            try:
                await self.stub.Unsubscribe(marketdata_pb2.UnsubscribeRequest(
                    instruments=refs), timeout=self.rpc_timeout_s)
            except grpc.aio.AioRpcError as exc:
                log.info("marketdata Unsubscribe on close: %s", exc.code().name)
        if self._channel is not None:
            await self._channel.close()


def _why(exc: BaseException | None) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code().name
    return type(exc).__name__ if exc is not None else "closed by the server"


class StreamedQuotes:
    """Quotes from a TickStream, the keys it cannot answer from `rest` (Kite's quote API)."""

    def __init__(self, stream: TickStream,
                 rest: Callable[[list[str]], Awaitable[dict[str, Quote]]], *,
                 today: Callable[[], date] | None = None) -> None:
        self.stream = stream
        self.rest = rest
        self._today = today or (lambda: to_ist(datetime.now(UTC)).date())
        self._circuits: dict[str, tuple[date, int, int]] = {}  # key -> day, lower, upper
        self.fallbacks: dict[str, int] = {DOWN: 0, STALE: 0, UNKNOWN: 0}

    async def quotes(self, keys: list[str]) -> dict[str, Quote]:
        if not keys:
            return {}
        got, missing = await self.stream.quotes(keys)
        metrics.QUOTES_STREAMED.inc(len(got))
        day = self._today()
        for k, q in got.items():
            c = self._circuits.get(k)
            if c is not None and c[0] == day:
                got[k] = dataclasses.replace(q, lower_circuit_paise=c[1],
                                             upper_circuit_paise=c[2])
        if not missing:
            return got
        for reason in missing.values():
            self.fallbacks[reason] += 1
            metrics.QUOTE_FALLBACKS.labels(reason).inc()
        log.debug("REST quotes for %s", missing)
        fresh = await self.rest(list(missing))
        for k, q in fresh.items():
            if q.lower_circuit_paise or q.upper_circuit_paise:
                self._circuits[k] = (day, q.lower_circuit_paise, q.upper_circuit_paise)
        return {**got, **fresh}


class StreamedMarketData(StreamedQuotes):
    """A MarketData (the paper broker's) whose quotes come from the stream, with `data` (a
    KiteMarketData: its limiter and 1 s cache) as the fallback and for instrument dumps."""

    def __init__(self, stream: TickStream, data: MarketData, *,
                 today: Callable[[], date] | None = None) -> None:
        super().__init__(stream, data.quotes, today=today)
        self.data = data

    async def instruments(self, exchange: str) -> list[dict[str, Any]]:
        return await self.data.instruments(exchange)

    async def close(self) -> None:
        await self.data.close()  # the stream is the process's; Runtime closes it


def open_tick_stream(addr: str, settings: Any, **kw: Any) -> TickStream:
    """A TickStream on its own channel to marketdata at `addr`."""
    ch = channel(addr, settings, caller="execution")
    return TickStream(marketdata_pb2_grpc.MarketdataServiceStub(ch), channel=ch, **kw)
