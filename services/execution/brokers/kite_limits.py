"""Kite's documented request rates, shared by every process using the same API key.

Quotes 1/s, order placement/modification/cancellation 10/s, everything else 10/s
(kite-protocol.md §3). One Redis token bucket per (category, API key), so the execution
service's replicas, its paper accounts' market data and its Kite accounts never add up to a 429.
A wait longer than `timeout_s` is a RateLimited error instead of an unbounded queue.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from mandi.platform.ratelimit import TokenBucket

RATES = {"quote": 1.0, "order": 10.0, "other": 10.0}


class KiteRateLimiter:
    def __init__(self, redis: aioredis.Redis, api_key: str, *, timeout_s: float = 5.0,
                 prefix: str = "mandi:kite") -> None:
        self.timeout_s = timeout_s
        self._buckets = {kind: TokenBucket(redis, f"{prefix}:{kind}:{api_key}", rate, rate)
                         for kind, rate in RATES.items()}

    async def wait(self, kind: str) -> None:
        await self._buckets[kind].acquire(timeout_s=self.timeout_s)
