"""Login throttling in Redis: failed logins are counted per username and per client IP over a
window; at the limit further attempts are refused (429 with Retry-After) until the window has
passed, whether the password is right or not. A success clears the username's count. The IP
allows a few times the username's limit (one office, several users)."""

from __future__ import annotations

import redis.asyncio as aioredis

from services.gateway.auth.rest_limits import TooManyRequests

IP_FACTOR = 4


class LoginThrottle:
    def __init__(self, redis: aioredis.Redis, prefix: str, max_failures: int,
                 window_s: float) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:auth:fail"
        self.max = max_failures
        self.window_ms = int(window_s * 1000)

    def _keys(self, username: str, ip: str) -> tuple[str, str]:
        return f"{self.prefix}:user:{username.lower()}", f"{self.prefix}:ip:{ip}"

    async def check(self, username: str, ip: str) -> None:
        user_key, ip_key = self._keys(username, ip)
        user_n, ip_n = await self.redis.mget(user_key, ip_key)
        if int(user_n or 0) >= self.max or int(ip_n or 0) >= self.max * IP_FACTOR:
            ttl_ms = max(await self.redis.pttl(user_key), await self.redis.pttl(ip_key), 1000)
            retry = ttl_ms // 1000 + 1
            raise TooManyRequests(f"too many failed logins; try again in {retry} s",
                                  field="username", retry_after_s=retry)

    async def failed(self, username: str, ip: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in self._keys(username, ip):
                pipe.incr(key)
                pipe.pexpire(key, self.window_ms, nx=True)
            await pipe.execute()

    async def succeeded(self, username: str) -> None:
        await self.redis.delete(self._keys(username, "")[0])
