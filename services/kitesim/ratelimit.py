"""Kite's per-endpoint-class request limits, per API key, over the wall clock.

Sliding windows: quote 1/s, historical 3/s, order place/modify/cancel 10/s and 200/min, other
10/s. Over the limit the request gets HTTP 429 NetworkException "Too many requests" (see app.py).
The wall clock is used, not the simulated one: limits are about how fast a real client calls.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable

LIMITS: dict[str, tuple[tuple[int, float], ...]] = {
    "quote": ((1, 1.0),),
    "historical": ((3, 1.0),),
    "orders": ((10, 1.0), (200, 60.0)),
    "other": ((10, 1.0),),
}


def endpoint_class(method: str, path: str) -> str | None:
    """The limit class of a Kite route, or None for routes that are not limited."""
    if path.startswith("/sim/") or path.startswith("/connect/") or path == "/ws":
        return None
    if path.startswith("/quote"):
        return "quote"
    if path.startswith("/instruments/historical/"):
        return "historical"
    if path.startswith("/orders/") and method in ("POST", "PUT", "DELETE"):
        return "orders"
    return "other"


class RateLimiter:
    def __init__(self, enabled: bool = True, clock: Callable[[], float] = time.monotonic,
                 limits: dict[str, tuple[tuple[int, float], ...]] | None = None) -> None:
        self.enabled = enabled
        self._clock = clock
        self._limits = limits or LIMITS
        self._hits: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def allow(self, key: str, cls: str) -> bool:
        """Record a request and say whether it is within every window of its class."""
        if not self.enabled:
            return True
        now = self._clock()
        hits = self._hits[(key, cls)]
        longest = max(w for _, w in self._limits[cls])
        while hits and hits[0] <= now - longest:
            hits.popleft()
        for count, window in self._limits[cls]:
            recent = sum(1 for t in reversed(hits) if t > now - window) if window < longest \
                else len(hits)
            if recent >= count:
                return False
        hits.append(now)
        return True

    def reset(self) -> None:
        self._hits.clear()
