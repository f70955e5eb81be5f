"""Kite's per-endpoint-class request limits, per API key, over the wall clock.

Sliding windows, as Kite documents them today: quote 1/s; historical 3/s; order
place/modify/cancel 10/s, 400/min and 5000/day (a rejected order still counts: the limit is
checked before the order is validated); every other call 10/s. Over a limit the request gets
HTTP 429 NetworkException "Too many requests" (see app.py) and is not counted.

The wall clock is used, not the simulated one: limits are about how fast a real client calls.
For tests, the instants of admitted order requests (per API key) and the number of refusals per
class are kept, and `GET /sim/ratelimit` returns them, so a test can count every sliding window
from the simulator's own record.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import Counter, defaultdict, deque
from collections.abc import Callable

Limits = dict[str, tuple[tuple[int, float], ...]]

LIMITS: Limits = {
    "quote": ((1, 1.0),),
    "historical": ((3, 1.0),),
    "orders": ((10, 1.0), (400, 60.0), (5000, 86_400.0)),
    "other": ((10, 1.0),),
}
LOGGED = ("orders",)
LOG_MAX = 100_000


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


def parse_limits(raw: object) -> Limits:
    """`{class: [[count, seconds], ...]}` from a JSON body, over the defaults; ValueError names
    what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("`limits` must be an object of class → [[count, seconds], ...]")
    out = dict(LIMITS)
    for cls, windows in raw.items():
        if cls not in LIMITS:
            raise ValueError(f"unknown limit class {cls!r}; known: {', '.join(LIMITS)}")
        try:
            parsed = tuple((int(n), float(s)) for n, s in windows)
        except (TypeError, ValueError):
            raise ValueError(f"limits.{cls} must be a list of [count, seconds]") from None
        if not parsed or any(n < 1 or s <= 0 for n, s in parsed):
            raise ValueError(f"limits.{cls} needs count ≥ 1 and seconds > 0 in every window")
        out[cls] = parsed
    return out


class RateLimiter:
    def __init__(self, enabled: bool = True, clock: Callable[[], float] = time.monotonic,
                 limits: Limits | None = None) -> None:
        self.enabled = enabled
        self._clock = clock
        self.limits = limits or LIMITS
        self._hits: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self.admitted: dict[tuple[str, str], deque[float]] = defaultdict(
            lambda: deque(maxlen=LOG_MAX))
        self.refused: Counter[str] = Counter()

    def allow(self, key: str, cls: str) -> bool:
        """Record a request and say whether it is within every window of its class."""
        if not self.enabled:
            return True
        now = self._clock()
        hits = self._hits[(key, cls)]
        windows = self.limits[cls]
        longest = max(w for _, w in windows)
        while hits and hits[0] <= now - longest:
            hits.popleft()
        for count, window in windows:
            # hits are in time order: those after now - window are inside this window
            recent = len(hits) - bisect_right(hits, now - window)
            if recent >= count:
                self.refused[cls] += 1
                return False
        hits.append(now)
        if cls in LOGGED:
            self.admitted[(key, cls)].append(now)
        return True

    def record(self) -> dict:
        """What the admin route shows: limits, refusals per class, admitted order instants."""
        log: dict[str, dict[str, list[float]]] = defaultdict(dict)
        for (key, cls), instants in self.admitted.items():
            log[cls][key] = list(instants)
        return {"enabled": self.enabled,
                "limits": {cls: [list(w) for w in ws] for cls, ws in self.limits.items()},
                "refused": dict(self.refused), "admitted": dict(log)}

    def reset(self, limits: Limits | None = None) -> None:
        self._hits.clear()
        self.admitted.clear()
        self.refused.clear()
        if limits is not None:
            self.limits = limits
