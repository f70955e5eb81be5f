"""Kite's documented request rates, shared by every process using the same API key.

Kite counts per API key in sliding windows: quotes 1/s; historical 3/s; order placement,
modification and cancellation 10/s, 400/min and 5000/day (invalid orders count too); every
other call 10/s (kite-protocol.md §3, Kite staff [K2] in the domain review). One Redis
sliding-window limiter per (category, API key), so the execution service's replicas, its paper
accounts' market data and its Kite accounts never add up to a 429. A request over a limit waits
for its slot; a wait longer than `timeout_s` is a RateLimited error instead of an unbounded
queue.

`margin_s` lengthens every window: the limiter decides by Redis' clock when a request may
leave, Kite counts when it arrives, and a request delayed on its way (a busy thread pool, a
new connection) must not land inside the window of one sent a window later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis

from mandi.core.errors import RateLimited, TemporaryError
from mandi.platform.ratelimit import SlidingWindowLimiter, Windows, describe
from mandi.platform.retry import backoff_delay

log = logging.getLogger(__name__)
T = TypeVar("T")

LIMITS: dict[str, Windows] = {
    "quote": ((1, 1.0),),
    "historical": ((3, 1.0),),
    "order": ((10, 1.0), (400, 60.0), (5000, 86_400.0)),
    "other": ((10, 1.0),),
}
WINDOW_MARGIN_S = 0.25


class KiteRateLimiter:
    def __init__(self, redis: aioredis.Redis, api_key: str, *, timeout_s: float = 5.0,
                 prefix: str = "mandi:kite", margin_s: float = WINDOW_MARGIN_S,
                 limits: dict[str, Windows] | None = None) -> None:
        self.timeout_s = timeout_s
        self._limiters = {
            kind: SlidingWindowLimiter(redis, {f"{prefix}:{kind}:sliding:{api_key}": tuple(
                (limit, seconds + margin_s) for limit, seconds in windows)})
            for kind, windows in (limits or LIMITS).items()}
        self._labels = {kind: f"Kite {kind} requests for this API key"
                        for kind in self._limiters}

    async def wait(self, kind: str, timeout_s: float | None = None) -> float:
        """Wait for a slot of `kind`; returns the grant's instant (Redis' clock, epoch s)."""
        limiter = self._limiters[kind]
        return await limiter.acquire(
            timeout_s=self.timeout_s if timeout_s is None else timeout_s,
            field=f"kite_{kind}_rate", message={k: self._labels[kind] for k in limiter.keys})

    async def room(self, kind: str, within_s: float) -> None:
        """RateLimited (naming `kite_<kind>_rate`) unless a slot of `kind` could be had within
        `within_s`; takes nothing. The engine asks before it writes an order, so a full window
        (Kite's 400 a minute) refuses the intent while nothing is stored, instead of after,
        when the placement's own wait would run out."""
        limiter = self._limiters[kind]
        wait, key = await limiter.wait_needed()
        if wait > within_s:
            raise RateLimited(
                f"{self._labels[kind]} ({describe(limiter.rules[key])}): full; nothing was "
                f"stored or sent, retry in {wait:.2f}s", field=f"kite_{kind}_rate")


async def retry_kite_429(call: Callable[[], Awaitable[T]], *, attempts: int = 3,
                         pause_s: float = 0.0) -> T:
    """`call()` again when Kite itself answers 429 — someone else using the API key (a script,
    another tool) took the window our limiter thought free. Kite refuses such a request before
    acting on it, so a read is safe to repeat; each repeat takes a fresh slot from the limiter
    inside `call` (or waits `pause_s` when there is none). Our own limiter's RateLimited (its
    wait bound passed; it names a field) is not retried. Not for order placement: the engine
    sends a placement refused with 429 again itself (Engine._place_at_broker, jittered
    backoff), and leaves any other unclear outcome to reconciliation by tag."""
    for attempt in range(1, attempts):
        try:
            return await call()
        except RateLimited as exc:
            if exc.field is not None:
                raise
            log.info("kite answered 429 (attempt %d of %d); waiting for the next slot",
                     attempt, attempts)
            if pause_s:
                await asyncio.sleep(pause_s)
    return await call()


async def retry_kite_read(call: Callable[[], Awaitable[T]], *, attempts: int = 3,
                          base_delay_s: float = 0.2) -> T:
    """`call()` (a read: margins, holdings, orders, trades…) again when Kite answered 429 or
    failed transiently (a 5xx, a dropped connection, a timeout): a read changes nothing at
    Kite, so repeating it is safe, and an account card or a reconciliation pass should not show
    a part as unavailable for one lost reply. Our own limiter's bound (a RateLimited naming a
    field) is final; so is every other error (a rejected token, bad input)."""
    for attempt in range(attempts - 1):
        try:
            return await call()
        except TemporaryError as exc:
            if isinstance(exc, RateLimited) and exc.field is not None:
                raise
            log.info("kite read failed (attempt %d of %d), repeating: %s",
                     attempt + 1, attempts, exc.message)
            if not isinstance(exc, RateLimited):
                await asyncio.sleep(backoff_delay(attempt, base_delay_s, 2.0))
    return await call()
