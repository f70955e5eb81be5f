"""REST rate limits (issue #13, Exposure): every `/api/` HTTP request takes a grant from its
client IP's sliding windows (`MANDI_GATEWAY_RATE_IP`) before its credential is checked, and a
signed-in request one from its user's (`MANDI_GATEWAY_RATE_USER`) after. Over either: 429 with
the error envelope and `Retry-After` (whole seconds until a grant frees up).

The windows live in Redis (mandi.platform.ratelimit.SlidingWindowLimiter), so gateway replicas
share them. A refused request takes no grant, so a client that keeps hammering is admitted
again as soon as its window slides. WebSocket handshakes and /healthz are not counted; login
has its own failure throttle on top (auth/throttle.py)."""

from __future__ import annotations

import math

import redis.asyncio as aioredis

from mandi.core.errors import RateLimited
from mandi.platform.ratelimit import SlidingWindowLimiter, Windows, describe


class TooManyRequests(RateLimited):
    """RateLimited with the seconds until a retry can succeed (the Retry-After header)."""

    def __init__(self, message: str, *, field: str, retry_after_s: int) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


class RestLimits:
    def __init__(self, redis: aioredis.Redis, prefix: str, per_user: Windows,
                 per_ip: Windows) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:gw:rate"
        self.per_user, self.per_ip = tuple(per_user), tuple(per_ip)
        # Built once (windows checked, script registered); each request passes its own key.
        self._user = SlidingWindowLimiter(redis, {self.prefix: self.per_user}) if per_user else None
        self._ip = SlidingWindowLimiter(redis, {self.prefix: self.per_ip}) if per_ip else None

    async def take_ip(self, ip: str) -> None:
        await self._take(self._ip, f"ip:{ip}", "client IP address")

    async def take_user(self, username: str) -> None:
        await self._take(self._user, f"user:{username.lower()}", "user")

    async def _take(self, limiter: SlidingWindowLimiter | None, who: str, what: str) -> None:
        if limiter is None:
            return
        granted, wait, _, _ = await limiter.try_acquire(keys=[f"{self.prefix}:{who}"])
        if not granted:
            retry = max(1, math.ceil(wait))
            raise TooManyRequests(f"too many requests from this {what} (at most "
                                  f"{describe(limiter.rules[self.prefix])}); "
                                  f"retry in {retry} s", field="rate", retry_after_s=retry)
