"""Bounded work per request (issue #13): one 10 KB `/api/data/fetch-batch` once queued 61,850
Kite historical calls — 5.7 hours of the API key's quota, which every user and service shares.

Before a fetch is sent to history, the gateway estimates its Kite calls as history's planner
splits it (`Interval.requests_for`: symbols × date range ÷ the interval's per-request span; an
incremental fetch may need fewer — this is the upper bound). Then:

* more than `MANDI_GATEWAY_FETCH_CONFIRM_CALLS` (default 1,000 ≈ 5.6 min at 3 req/s) needs
  `"confirm": true` in the body, else 400 naming `confirm` with the estimate and its time at
  the historical rate limit;
* each user may queue `MANDI_GATEWAY_KITE_CALLS_PER_DAY` (default 20,000) estimated calls per
  IST day: a Redis counter `<prefix>:gw:kite_calls:<user>:<IST date>` shared by the gateway's
  replicas, charged when the fetch is accepted; over it → 429 with the envelope and
  `Retry-After` (seconds to the next IST midnight). A refused request charges nothing.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import redis.asyncio as aioredis

from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from services.gateway.auth.rest_limits import TooManyRequests

KEEP_S = 2 * 86400  # a day's counter outlives its day, then Redis drops it


def duration_text(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def require_confirmation(calls: int, confirm: bool, *, limit: int, rate_per_s: float) -> None:
    """400 naming `confirm` when `calls` exceeds `limit` and the caller did not confirm."""
    if calls <= limit or confirm:
        return
    eta = duration_text(calls / rate_per_s)
    raise InvalidInput(
        f"confirm: this fetch needs about {calls:,} Kite calls (about {eta} at the historical "
        f"rate limit of {rate_per_s:g} req/s), more than the {limit:,} allowed without "
        'confirmation; send "confirm": true to run it', field="confirm")


class KiteCallQuota:
    def __init__(self, redis: aioredis.Redis, prefix: str, per_day: int) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:gw:kite_calls"
        self.per_day = per_day

    def key(self, user: str, now: datetime) -> str:
        return f"{self.prefix}:{user.lower()}:{now.astimezone(IST).date().isoformat()}"

    async def used(self, user: str, now: datetime) -> int:
        return int(await self.redis.get(self.key(user, now)) or 0)

    async def charge(self, user: str, calls: int, now: datetime) -> None:
        """Count `calls` against the user's day, or refuse (429) without counting them."""
        if calls <= 0:
            return
        key = self.key(user, now)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incrby(key, calls)
            pipe.expire(key, KEEP_S)
            total, _ = await pipe.execute()
        if total <= self.per_day:
            return
        await self.redis.decrby(key, calls)
        local = now.astimezone(IST)
        midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                       microsecond=0)
        retry = max(1, math.ceil((midnight - local).total_seconds()))
        raise TooManyRequests(
            f"the daily Kite call quota is used up: this fetch needs about {calls:,} calls, "
            f"{max(0, total - calls):,} of {self.per_day:,} are used today (IST); it resets at "
            "00:00 IST", field="quota", retry_after_s=retry)
