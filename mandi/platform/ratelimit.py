"""Rate limiters in Redis, shared by every process that uses the same key.

Kite counts requests per API key in *sliding* windows (orders: 10 in any second, 400 in any
minute, 5000 a day), across all our replicas; a per-process limiter would multiply that by the
replica count and earn 429s. State lives in Redis, changed only by Lua scripts (atomic), timed
by Redis' own clock.

`SlidingWindowLimiter` is the exact model: it records each grant's instant and admits a request
only if every window (of every key it covers) would still hold at most its limit. A waiter
reserves the earliest such slot and sleeps until it, first come first served, so concurrent
waiters neither starve nor stampede. Several keys are decided together, all or nothing, so an
account throttle and a per-exchange governor never consume a grant for an order the other
refuses.

`TokenBucket` is kept for pacing: with capacity 1 it spaces grants by 1/rate (the history
fetcher's use). With capacity > 1 it admits `capacity + rate` in one rolling second — never use
it that way against a sliding-window limit.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from importlib.resources import files

import redis.asyncio as aioredis

from mandi.core.errors import InvalidInput, RateLimited

LUA = files("mandi.platform").joinpath("ratelimit.lua").read_text(encoding="utf-8")
SLIDING_LUA = files("mandi.platform").joinpath("sliding_window.lua").read_text(encoding="utf-8")


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


Windows = Sequence[tuple[int, float]]  # (limit, window seconds), e.g. ((10, 1.0), (400, 60.0))


class SlidingWindowLimiter:
    """At most `limit` grants inside any `seconds`-long window, for every window of every key
    in `rules`; one request takes a grant under every key at once or under none."""

    def __init__(self, redis: aioredis.Redis, rules: Mapping[str, Windows]) -> None:
        if not rules:
            raise InvalidInput("a sliding-window limiter needs at least one key", field="rules")
        spec = []
        for key, windows in rules.items():
            if not windows:
                raise InvalidInput(f"no windows for {key!r}", field="windows")
            for limit, seconds in windows:
                if int(limit) != limit or limit < 1 or not seconds > 0:
                    raise InvalidInput(f"window ({limit}, {seconds}) for {key!r} needs an "
                                       "integer limit ≥ 1 and seconds > 0", field="windows")
            spec.append([[int(limit), round(seconds * 1_000_000)] for limit, seconds in windows])
        self.keys = list(rules)
        self.rules = {k: tuple((int(lim), float(s)) for lim, s in w) for k, w in rules.items()}
        self.max_n = min(limit for windows in self.rules.values() for limit, _ in windows)
        self._spec = json.dumps(spec)
        self._script = redis.register_script(SLIDING_LUA)

    async def try_acquire(self, n: int = 1, *, keys: Sequence[str] | None = None,
                          ) -> tuple[bool, float, float, str]:
        """Take `n` grants if every window allows them now (and nobody is queued ahead).
        Returns (granted, seconds until they could be had, Redis time of the decision in
        epoch seconds, the key that refused or "").

        `keys` (one per rule, in order) applies the same windows under other Redis keys, so
        one limiter serves many callers (a per-IP or per-user limit) without being rebuilt."""
        granted, wait, at, culprit = await self._reserve(n, 0.0, keys)
        return granted, (0.0 if granted else wait), at, ("" if granted else culprit)

    async def _reserve(self, n: int, max_wait_s: float, keys: Sequence[str] | None = None,
                       ) -> tuple[bool, float, float, str]:
        if int(n) != n or n < 1 or n > self.max_n:
            raise InvalidInput(f"cannot take {n} grants where a window allows {self.max_n}",
                               field="n")
        keys = self.keys if keys is None else list(keys)
        if len(keys) != len(self.keys):
            raise InvalidInput(f"{len(keys)} keys for a limiter of {len(self.keys)} rules",
                               field="keys")
        granted, wait_us, at_us, culprit = await self._script(
            keys=keys,
            args=[str(int(n)), uuid.uuid4().hex, self._spec, str(round(max_wait_s * 1e6))])
        key = keys[int(culprit) - 1] if int(culprit) else ""
        return int(granted) == 1, int(wait_us) / 1e6, int(at_us) / 1e6, key

    async def wait_needed(self, n: int = 1) -> tuple[float, str]:
        """How long until `n` grants could be had, and the key that sets it ("" if none):
        nothing is taken or reserved (a peek; the answer may be stale a moment later)."""
        _, wait, _, key = await self._reserve(n, -1e-6)
        return max(wait, 0.0), key

    async def acquire(self, n: int = 1, timeout_s: float | None = None, *,
                      field: str | Mapping[str, str] = "rate",
                      message: Mapping[str, str] | None = None) -> float:
        """Reserve the earliest slot for `n` grants (first come, first served: a waiter is
        never overtaken) and sleep until it; returns the slot's instant (Redis' clock, epoch
        s). When the slot is further away than `timeout_s`, nothing is reserved and
        RateLimited is raised at once; its field is `field`, or `field[key]` for the key
        that set the slot, and `message[key]` (if given) leads its message. A waiter
        cancelled in its sleep leaves its slot unused: fewer requests, never more."""
        max_wait = 10 * 365 * 86_400.0 if timeout_s is None else max(timeout_s, 0.0)
        granted, wait, at, key = await self._reserve(n, max_wait)
        if not granted:
            what = (message or {}).get(key) or f"rate limit {key!r}"
            raise RateLimited(
                f"{what} ({describe(self.rules[key])}): no slot within {timeout_s:g}s; "
                f"retry in {wait:.2f}s",
                field=field if isinstance(field, str) else field.get(key, "rate"))
        if wait > 0:
            await asyncio.sleep(wait)
        return at


def describe(windows: Windows) -> str:
    """`windows` for a message: \"10 per 1s, 400 per 60s\"."""
    return ", ".join(f"{limit} per {seconds:g}s" for limit, seconds in windows)
