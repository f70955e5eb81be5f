"""A token bucket in Redis, shared by every process that uses the same key.

Kite allows ~3 historical-data requests per second per API key, across all our replicas; a
per-process limiter would multiply that by the replica count and earn 429s. The bucket's state
lives in one Redis hash updated by one Lua script (atomic), timed by Redis' own clock.
"""

from __future__ import annotations

import asyncio
import random
import time
from importlib.resources import files

import redis.asyncio as aioredis

from mandi.core.errors import InvalidInput, RateLimited

LUA = files("mandi.platform").joinpath("ratelimit.lua").read_text(encoding="utf-8")


class TokenBucket:
    """`capacity` tokens at most (the burst), refilled at `rate_per_s`; state under `key`."""

    def __init__(self, redis: aioredis.Redis, key: str, capacity: float, rate_per_s: float) -> None:
        if capacity <= 0 or rate_per_s <= 0:
            raise InvalidInput(
                f"token bucket needs capacity > 0 and rate > 0, got {capacity}, {rate_per_s}",
                field="capacity" if capacity <= 0 else "rate_per_s",
            )
        self.key = key
        self.capacity = float(capacity)
        self.rate_per_s = float(rate_per_s)
        self._script = redis.register_script(LUA)

    async def try_acquire(self, n: float = 1) -> tuple[bool, float]:
        """Take `n` tokens if available now. Returns (granted, seconds until `n` could be)."""
        if n <= 0 or n > self.capacity:
            raise InvalidInput(
                f"cannot take {n} tokens from a bucket of capacity {self.capacity:g}", field="n"
            )
        granted, wait, _now = await self._script(
            keys=[self.key], args=[repr(self.capacity), repr(self.rate_per_s), repr(float(n))]
        )
        return int(granted) == 1, float(wait)

    async def acquire(self, n: float = 1, timeout_s: float | None = None) -> None:
        """Wait until `n` tokens are taken. Raises RateLimited when the wait would exceed
        `timeout_s` (checked before sleeping, so a hopeless wait fails immediately)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            granted, wait = await self.try_acquire(n)
            if granted:
                return
            # Jitter spreads competing waiters so they do not all retry in the same instant.
            wait = max(wait, 0.001) * (1 + random.random() * 0.1)
            if deadline is not None and time.monotonic() + wait > deadline:
                raise RateLimited(
                    f"rate limit {self.key!r}: no token within {timeout_s:g}s", field="rate"
                )
            await asyncio.sleep(wait)
