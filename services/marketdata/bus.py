"""Redis between the one active ingester and every replica's fan-out.

Only the lease holder reads Kite; all replicas serve gRPC. So everything a subscriber sees goes
through Redis, and a subscriber keeps its stream when the ingester moves to another replica:

- ticks: one PUBLISH per batch on `<p>:md:ticks`, in the column format of `tickwire`. Pub/sub is
  lossy by design (a replica that is not listening misses ticks); ticks are conflatable, and
  the last price of every instrument is kept in the `<p>:md:ltp` hash for anyone who joins late.
- candles: one Redis Stream, `<p>:md:candles`, the candle log. A bar is appended only if its
  start is after the last start logged for its (token, interval) — checked and written in one
  Lua script, so when two ingesters overlap during a takeover (or one re-emits after a restart)
  a bar is still logged once. Gaps the backfill could not fill go in the same log. Readers replay
  it from any point and then block for new entries, which is what StreamCandles' `since` needs.
- subscriptions: the registry of what clients asked for, shared by all replicas, with a
  reference count per instrument (Kite is unsubscribed when the last client leaves) and a
  change notification the ingester follows. A client does not say which mode it had when it
  unsubscribes, so a token's mode is the highest asked for while anyone holds it and resets when
  its count reaches zero; a token with candle intervals is always FULL (only full packets carry
  the exchange time bars are bucketed by).

Keys live under `<settings.redis_prefix>:md:`. The client must not decode responses (ticks are
binary): `create_redis(url, decode_responses=False)`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mandi.core import errors
from mandi.kite import ticker_codec as tc
from services.marketdata import tickwire
from services.marketdata.candles import Bar, Gap
from services.marketdata.ticks import MODE_CODES, MODE_NAMES, TickBatch

log = logging.getLogger(__name__)

MAX_INSTRUMENTS = 3 * 3000  # Kite: 3 sockets × 3,000 instruments per API key
DEFAULT_LOG_MAXLEN = 2_000_000  # ~ a day of minute + N-minute bars for 3,000 instruments

# KEYS: refs, mode, intervals, meta, version; ARGV: mode, intervals csv, limit, channel,
# then token, meta pairs. Adds a reference per token; refuses everything if the distinct
# tokens would exceed the limit.
_SUBSCRIBE = """
local new = 0
for i = 5, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then new = new + 1 end
end
local total = redis.call('HLEN', KEYS[1]) + new
if total > tonumber(ARGV[3]) then return {-1, total} end
local mode = tonumber(ARGV[1])
for i = 5, #ARGV, 2 do
  local t = ARGV[i]
  redis.call('HINCRBY', KEYS[1], t, 1)
  local cur = redis.call('HGET', KEYS[3], t) or ''
  local set, out = {}, {}
  for iv in string.gmatch(cur .. ',' .. ARGV[2], '[^,]+') do
    if not set[iv] then set[iv] = true; table.insert(out, iv) end
  end
  table.sort(out)
  local m = tonumber(redis.call('HGET', KEYS[2], t) or '0')
  if mode > m then m = mode end
  if #out > 0 then
    m = 3
    redis.call('HSET', KEYS[3], t, table.concat(out, ','))
  end
  redis.call('HSET', KEYS[2], t, m)
  if ARGV[i + 1] ~= '' then redis.call('HSET', KEYS[4], t, ARGV[i + 1]) end
end
local v = redis.call('INCR', KEYS[5])
redis.call('PUBLISH', ARGV[4], v)
return {new, total}
"""

# KEYS: refs, mode, intervals, meta, version; ARGV: channel, tokens. Drops one reference per
# token held; returns {references dropped, tokens released}.
_UNSUBSCRIBE = """
local dropped, released = 0, 0
for i = 2, #ARGV do
  local t = ARGV[i]
  if redis.call('HEXISTS', KEYS[1], t) == 1 then
    dropped = dropped + 1
    if redis.call('HINCRBY', KEYS[1], t, -1) <= 0 then
      released = released + 1
      redis.call('HDEL', KEYS[1], t)
      redis.call('HDEL', KEYS[2], t)
      redis.call('HDEL', KEYS[3], t)
      redis.call('HDEL', KEYS[4], t)
    end
  end
end
if dropped > 0 then
  local v = redis.call('INCR', KEYS[5])
  redis.call('PUBLISH', ARGV[1], v)
end
return {dropped, released}
"""

# KEYS: log stream, last-start hash; ARGV: dedup field, start, maxlen, then field/value pairs.
_APPEND = """
local last = redis.call('HGET', KEYS[2], ARGV[1])
if last and tonumber(ARGV[2]) <= tonumber(last) then return false end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
"""


@dataclass(frozen=True, slots=True)
class Registered:
    mode: str  # ticker_codec MODE_LTP / MODE_QUOTE / MODE_FULL
    intervals: tuple[str, ...]
    refs: int
    meta: bytes = b""  # what the subscriber resolved the token to (a serialized Instrument)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One record of the candle log: a bar or a gap, with its stream id (the resume cursor)."""

    id: bytes
    bar: Bar | None = None
    gap: Gap | None = None

    @property
    def token(self) -> int:
        return self.bar.token if self.bar is not None else self.gap.token  # type: ignore[union-attr]

    @property
    def start(self) -> int:
        return self.bar.start if self.bar is not None else self.gap.start  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class Ltp:
    token: int
    price: int  # packet units
    exchange_ts: int  # epoch s, 0 when the mode carries none
    received_ns: int


def _s(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _entry(entry_id: bytes, fields: Mapping[bytes, bytes]) -> LogEntry | None:
    f = {_s(k): _s(v) for k, v in fields.items()}
    try:
        if f.get("k") == "gap":
            return LogEntry(entry_id, gap=Gap(int(f["t"]), int(f["s"]), int(f["e"]), f["r"]))
        return LogEntry(entry_id, bar=Bar(
            int(f["t"]), f["i"], int(f["s"]), int(f["o"]), int(f["h"]), int(f["l"]), int(f["c"]),
            int(f["v"]), int(f["oi"]), f["src"]))
    except (KeyError, ValueError):
        log.warning("skipping malformed candle-log entry %s", _s(entry_id))
        return None


class MarketBus:
    def __init__(self, redis: aioredis.Redis, prefix: str, *,
                 log_maxlen: int = DEFAULT_LOG_MAXLEN,
                 max_instruments: int = MAX_INSTRUMENTS, origin: str = "") -> None:
        self.redis = redis
        # Who publishes through this bus (a replica id). Every tick message carries it, and
        # `ticks()` skips the messages of its own origin: a replica's ingester hands its ticks
        # to the replica's hub directly, so reading them back from Redis would repeat them.
        # An empty origin (tests, benches) skips nothing.
        self.origin = origin.encode()[:255]
        p = f"{prefix}:md:"
        self.tick_channel = p + "ticks"
        self.postback_channel = p + "postbacks"  # = services.execution.postbacks.postback_channel
        self.candle_log = p + "candles"
        self.candle_last = p + "candles:last"
        self.ltp_key = p + "ltp"
        self.sub_keys = [p + "subs:refs", p + "subs:mode", p + "subs:intervals",
                         p + "subs:meta", p + "subs:version"]
        self.sub_channel = p + "subs:changed"
        self.log_maxlen = log_maxlen
        self.max_instruments = max_instruments
        self._subscribe = redis.register_script(_SUBSCRIBE)
        self._unsubscribe = redis.register_script(_UNSUBSCRIBE)
        self._append = redis.register_script(_APPEND)

    # --- ticks ------------------------------------------------------------------------------
    async def publish_ticks(self, batch: TickBatch) -> int:
        """One PUBLISH of the whole batch; returns how many replicas' hubs received it."""
        if not len(batch):
            return 0
        return await self.redis.publish(self.tick_channel, self._tick_message(batch))

    def _tick_message(self, batch: TickBatch) -> bytes:
        return bytes([len(self.origin)]) + self.origin + tickwire.pack(batch)

    async def publish(self, batch: TickBatch) -> None:
        """publish_ticks and set_ltps in one round trip (for publishers without a hub of their
        own, such as tests and benches; the ingester coalesces its LTP writes instead)."""
        if not len(batch):
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.publish(self.tick_channel, self._tick_message(batch))
        pipe.hset(self.ltp_key, mapping=_ltp_mapping(batch))
        await pipe.execute()

    async def ticks(self, ready: asyncio.Event | None = None) -> AsyncIterator[TickBatch]:
        """Tick batches as published by other origins than this bus's, from the moment the
        subscription is confirmed (`ready` is set then). Malformed messages are logged and
        skipped."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=False)
        try:
            await pubsub.subscribe(self.tick_channel)
            while True:
                msg = await pubsub.get_message(timeout=None)
                if msg is None:
                    continue
                if msg["type"] == "subscribe":
                    if ready is not None:
                        ready.set()
                    continue
                if msg["type"] != "message":
                    continue
                data = msg["data"]
                size = data[0] if data else 0
                if self.origin and data[1:1 + size] == self.origin:
                    continue  # this replica's own ticks: its hub has them already
                try:
                    yield tickwire.unpack(data[1 + size:])
                except ValueError as exc:
                    log.warning("skipping a malformed tick message: %s", exc)
        finally:
            await pubsub.aclose()

    # --- last prices ------------------------------------------------------------------------
    async def set_ltps(self, batch: TickBatch) -> None:
        if len(batch):
            await self.redis.hset(self.ltp_key, mapping=_ltp_mapping(batch))

    async def get_ltps(self, tokens: Iterable[int]) -> dict[int, Ltp]:
        tokens = list(tokens)
        if not tokens:
            return {}
        values = await self.redis.hmget(self.ltp_key, [str(t) for t in tokens])
        out = {}
        for t, v in zip(tokens, values, strict=True):
            if v is not None:
                price, ets, rns = _s(v).split(",")
                out[t] = Ltp(t, int(price), int(ets), int(rns))
        return out

    # --- candle log -------------------------------------------------------------------------
    def _bar_args(self, bar: Bar, meta: Mapping[str, str] | None) -> list:
        fields = ["t", bar.token, "i", bar.interval, "s", bar.start, "o", bar.open,
                  "h", bar.high, "l", bar.low, "c", bar.close, "v", bar.volume, "oi", bar.oi,
                  "src", bar.source]
        for k, v in (meta or {}).items():
            fields += [f"m_{k}", v]
        return [f"{bar.token}:{bar.interval}", bar.start, self.log_maxlen, *fields]

    async def append_candle(self, bar: Bar, meta: Mapping[str, str] | None = None) -> bool:
        """Log `bar` unless a bar of its (token, interval) starting at or after it is logged
        already; False for such a duplicate. `meta` (e.g. tradingsymbol) rides along."""
        return await self._append(keys=[self.candle_log, self.candle_last],
                                  args=self._bar_args(bar, meta)) is not None

    async def append_candles(self, bars: Iterable[Bar]) -> list[bool]:
        """append_candle for many bars in one round trip, in order."""
        pipe = self.redis.pipeline(transaction=False)
        n = 0
        for bar in bars:
            await self._append(keys=[self.candle_log, self.candle_last],
                               args=self._bar_args(bar, None), client=pipe)
            n += 1
        if not n:
            return []
        return [r is not None for r in await pipe.execute()]

    async def append_gap(self, gap: Gap) -> bool:
        """Log a gap the backfill could not fill; once per (token, start), like bars."""
        return await self._append(
            keys=[self.candle_log, self.candle_last],
            args=[f"{gap.token}:gap", gap.start, self.log_maxlen, "k", "gap", "t", gap.token,
                  "s", gap.start, "e", gap.end, "r", gap.reason]) is not None

    async def last_log_id(self) -> bytes:
        """The id of the newest log entry (b"0-0" for an empty log): read after it for new ones."""
        last = await self.redis.xrevrange(self.candle_log, count=1)
        return last[0][0] if last else b"0-0"

    async def read_log(self, after: bytes = b"0-0", until: bytes | None = None,
                       page: int = 2000) -> AsyncIterator[LogEntry]:
        """Entries after `after` up to `until` (inclusive; None = the end now), in log order."""
        cursor = after
        while True:
            start = b"(" + cursor if isinstance(cursor, bytes) else "(" + cursor
            rows = await self.redis.xrange(self.candle_log, min=start, max=until or "+",
                                           count=page)
            for entry_id, fields in rows:
                e = _entry(entry_id, fields)
                if e is not None:
                    yield e
            if len(rows) < page:
                return
            cursor = rows[-1][0]

    async def follow_log(self, after: bytes, block_ms: int = 1000
                         ) -> AsyncIterator[list[LogEntry]]:
        """New entries after `after`, forever: XREAD BLOCK, one list per read (may be empty
        after a quiet `block_ms`, so the caller can check for cancellation or shutdown)."""
        cursor = after
        while True:
            got = await self.redis.xread({self.candle_log: cursor}, count=1000, block=block_ms)
            out = []
            for _stream, rows in got or ():
                for entry_id, fields in rows:
                    cursor = entry_id
                    e = _entry(entry_id, fields)
                    if e is not None:
                        out.append(e)
            yield out

    # --- subscriptions ----------------------------------------------------------------------
    async def subscribe(self, tokens: Iterable[int], mode: str,
                        intervals: Iterable[str] = (),
                        meta: Mapping[int, bytes] | None = None) -> int:
        """One more reference to each token (mode: ticker_codec mode name). Returns how many
        were new. CapacityExceeded, and nothing registered, past Kite's 9,000 instruments."""
        tokens = list(dict.fromkeys(tokens))
        if not tokens:
            return 0
        if mode not in MODE_CODES:
            raise errors.InvalidInput(f"unknown mode {mode!r}", field="mode")
        args: list = [MODE_CODES[mode], ",".join(sorted(set(intervals))), self.max_instruments,
                      self.sub_channel]
        for t in tokens:
            args += [t, (meta or {}).get(t, b"")]
        new, total = await self._subscribe(keys=self.sub_keys, args=args)
        if new < 0:
            raise errors.CapacityExceeded(
                f"subscribing would need {total} instruments; Kite carries at most "
                f"{self.max_instruments} per API key (3 connections x 3,000)",
                field="instruments")
        return int(new)

    async def unsubscribe(self, tokens: Iterable[int]) -> tuple[int, int]:
        """Drop one reference per token held: (references dropped, tokens now unsubscribed)."""
        tokens = list(dict.fromkeys(tokens))
        if not tokens:
            return 0, 0
        dropped, released = await self._unsubscribe(keys=self.sub_keys,
                                                    args=[self.sub_channel, *tokens])
        return int(dropped), int(released)

    async def registry(self) -> dict[int, Registered]:
        pipe = self.redis.pipeline(transaction=True)
        for key in self.sub_keys[:4]:
            pipe.hgetall(key)
        refs, modes, intervals, meta = await pipe.execute()
        out = {}
        for t, r in refs.items():
            ivs = _s(intervals.get(t, b""))
            out[int(t)] = Registered(
                mode=MODE_NAMES.get(int(modes.get(t, 2)), tc.MODE_QUOTE),
                intervals=tuple(ivs.split(",")) if ivs else (), refs=int(r),
                meta=meta.get(t, b""))
        return out

    async def registry_changes(self, ready: asyncio.Event | None = None
                               ) -> AsyncIterator[int]:
        """The registry version after each change, from subscription on (`ready` set then).
        Yields the current version first, so a follower never misses a change between
        reading the registry and listening."""
        pubsub = self.redis.pubsub()
        try:
            await pubsub.subscribe(self.sub_channel)
            if ready is not None:
                ready.set()
            yield int(await self.redis.get(self.sub_keys[4]) or 0)
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if msg is not None and msg["type"] == "message":
                    yield int(msg["data"])
        finally:
            await pubsub.aclose()

    async def publish_postback(self, data: dict) -> None:
        """A Kite order postback read off the ticker socket, for execution
        (services/execution/postbacks.py listens on this channel)."""
        await self.redis.publish(self.postback_channel, json.dumps(data, default=str))

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False


def _ltp_mapping(batch: TickBatch) -> dict[str, str]:
    """Latest tick per token of the batch as `price,exchange_ts,received_ns`."""
    tokens = batch.token[::-1]
    _, first = np.unique(tokens, return_index=True)
    rows = len(batch) - 1 - first
    return {str(int(batch.token[i])): f"{int(batch.price[i])},{int(batch.exchange_ts[i])},"
            f"{int(batch.received_ns[i])}" for i in rows}
