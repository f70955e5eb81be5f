"""Retry with full-jitter exponential backoff.

Full jitter (sleep a uniform random time in [0, min(max, base·2^attempt)]) spreads the retries
of many clients hitting the same failure, instead of having them return in synchronised waves
(AWS Architecture Blog, "Exponential Backoff And Jitter"). Only errors the caller names as
retryable are retried — typically TemporaryError; AuthError and InvalidInput never are.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def backoff_delay(
    attempt: int, base_delay_s: float, max_delay_s: float, rng: Any = random
) -> float:
    """Sleep before retry number `attempt` (0-based): uniform in [0, min(max, base·2^attempt)]."""
    cap = min(max_delay_s, base_delay_s * (2 ** min(attempt, 62)))
    return rng.uniform(0, cap)


async def retry(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    base_delay_s: float,
    max_delay_s: float,
    retry_on: tuple[type[BaseException], ...],
    on_retry: Callable[[int, BaseException, float], Any] | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    rng: Any = random,
) -> T:
    """Await `fn()` up to `attempts` times, retrying only on `retry_on` exceptions.

    `on_retry(attempt, exc, delay_s)` (sync or async) runs before each sleep — log or count
    there. The last exception propagates unchanged when attempts run out.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for attempt in range(attempts):
        try:
            return await fn()
        except retry_on as exc:
            if attempt == attempts - 1:
                raise
            delay = backoff_delay(attempt, base_delay_s, max_delay_s, rng)
            if on_retry is not None:
                result = on_retry(attempt + 1, exc, delay)
                if inspect.isawaitable(result):
                    await result
            await sleep(delay)
    raise AssertionError("unreachable")
