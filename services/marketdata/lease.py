"""IngestLease: which marketdata replica runs the ingester, decided in Redis.

Kite allows 3 ticker sockets per API key, and two ingesters would build every candle twice, so
exactly one replica ingests; the others serve gRPC from Redis and wait. The lease is one key
holding the holder's replica id with a TTL:

* acquire: SET key id NX PX ttl — only when nobody holds it;
* renew every ttl/3: a Lua compare-and-PEXPIRE, so a replica never extends a lease that has
  passed to someone else;
* release: a Lua compare-and-DEL, so closing never deletes another replica's lease.

Safety is "stop before anyone else can start". A renewal that fails, errors or finds another
holder makes the holder await on_lose at once. A renewal that hangs (Redis unreachable) is cut
off when ttl has passed since the start of the last successful renewal: the key expires no
earlier than that instant on the server, so the old holder has stopped before a standby, polling
every ~1 s, can acquire (takeover ≤ ttl + poll). Callbacks must be quick (start or stop tasks);
they run in the lease loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mandi.platform.tasks import cancel_pending

log = logging.getLogger("mandi.marketdata.lease")

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class IngestLease:
    def __init__(self, redis: aioredis.Redis, key: str, replica_id: str, ttl_s: float, *,
                 poll_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        if not replica_id:
            raise ValueError("replica_id must be non-empty")
        self._redis = redis
        self.key = key
        self.replica_id = replica_id
        self.ttl_s = ttl_s
        self.poll_s = poll_s
        self._clock = clock
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._held = False
        self._holder: str | None = None
        self._renewed_at = 0.0  # clock() before the last successful acquire/renew was sent
        self._closed = asyncio.Event()
        self._on_lose: Callable[[], Awaitable[None]] | None = None
        self.acquired = 0  # how many times this replica took the lease
        self.lost = 0

    @property
    def is_held(self) -> bool:
        return self._held

    def holder(self) -> str | None:
        """The holder as last seen (this replica's id while held)."""
        return self.replica_id if self._held else self._holder

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl_s * 1000))

    async def run(self, on_acquire: Callable[[], Awaitable[None]],
                  on_lose: Callable[[], Awaitable[None]]) -> None:
        """Acquire, hold and renew, or stand by, until close()."""
        self._on_lose = on_lose
        while not self._closed.is_set():
            if cancel_pending():  # told to stop, and something below swallowed it
                raise asyncio.CancelledError
            if not self._held:
                if await self._try_acquire():
                    await on_acquire()
                    continue
                await self._wait(self.poll_s)
                continue
            await self._wait(self.ttl_s / 3)
            if self._closed.is_set():
                break
            await self._renew_once()

    async def _try_acquire(self) -> bool:
        sent = self._clock()
        try:
            async with asyncio.timeout(self.ttl_s):  # (not wait_for: see mandi.platform.tasks)
                ok = await self._redis.set(self.key, self.replica_id, nx=True, px=self._ttl_ms)
            if not ok:
                async with asyncio.timeout(self.ttl_s):
                    holder = await self._redis.get(self.key)
                self._holder = holder.decode() if isinstance(holder, bytes) else holder
                return False
        except (TimeoutError, RedisError, OSError) as exc:
            log.warning("lease %s: acquire failed: %s", self.key, type(exc).__name__)
            return False
        self._held, self._renewed_at, self._holder = True, sent, self.replica_id
        self.acquired += 1
        log.info("lease %s: acquired by %s", self.key, self.replica_id)
        return True

    async def _renew_once(self) -> None:
        sent = self._clock()
        left = self._renewed_at + self.ttl_s - sent
        reason = ""
        try:
            if left <= 0:
                raise TimeoutError
            async with asyncio.timeout(left):
                ok = await self._renew(keys=[self.key], args=[self.replica_id, self._ttl_ms])
            if ok == 1:
                self._renewed_at = sent
                return
            reason = "another replica holds it"
        except TimeoutError:
            reason = f"no successful renewal for {self.ttl_s:g}s"
        except (RedisError, OSError) as exc:
            reason = f"renewal failed: {type(exc).__name__}"
        await self._lose(reason)

    async def _lose(self, reason: str) -> None:
        if not self._held:
            return
        self._held = False
        self._holder = None
        self.lost += 1
        # giving it up on shutdown is ordinary; any other loss is worth a warning
        log.log(logging.INFO if reason == "closing" else logging.WARNING,
                "lease %s: lost by %s (%s)", self.key, self.replica_id, reason)
        if self._on_lose is not None:
            await self._on_lose()

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closed.wait()

    async def close(self) -> None:
        """Stop the loop; if held, stop the ingester (on_lose) and then release the key."""
        self._closed.set()
        if not self._held:
            return
        await self._lose("closing")
        try:
            async with asyncio.timeout(self.ttl_s):
                await self._release(keys=[self.key], args=[self.replica_id])
        except (TimeoutError, RedisError, OSError) as exc:
            log.warning("lease %s: release failed (%s); it expires in ≤ %gs",
                        self.key, type(exc).__name__, self.ttl_s)
