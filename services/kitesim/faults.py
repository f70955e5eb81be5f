"""Fault injection for tests: added latency, random 5xx / NetworkException, dropped sockets,
lost order replies (the order is placed, then the connection closes before the answer), the
next N calls failed (`fail_next`: 503, for tests that need the failure at a known call), partial
fills (`fill_limit_pct`: an order fills at most that share, the rest finds no liquidity), and
ticker outages (`POST /sim/ws/fault`: down for N simulated seconds, delayed ticks).

Off by default. Switched with `POST /sim/faults` and `/sim/ws/fault`. Random choices come from a
seeded RNG so a test run with the same seed and request order sees the same faults. Ticker
outages are measured on the simulator clock, so a test at `--speed 60` waits a minute of
simulated outage in one wall second, as a feed client would see it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Faults:
    latency_ms: float = 0.0
    error_rate: float = 0.0  # share of REST calls answered 502/503/500
    ws_drop_rate: float = 0.0  # chance per second that each ticker socket is dropped
    seed: int = 0
    ws_down_until: float = 0.0  # sim epoch before which ticker upgrades get HTTP 503
    tick_delay_s: float = 0.0  # ticks of second t go out once the sim clock reaches t + this
    lose_order_replies: int = 0  # the next N order placements are done, their replies lost
    lost_replies: int = 0  # how many were lost so far
    fill_limit_pct: int = 0  # 1-99: orders fill at most this share of their quantity (partial)
    fail_next: int = 0  # the next N Kite API calls answer 503 (a deterministic error_rate)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    @property
    def active(self) -> bool:
        return bool(self.latency_ms or self.error_rate or self.ws_drop_rate)

    def configure(self, latency_ms: float | None = None, error_rate: float | None = None,
                  ws_drop_rate: float | None = None,
                  lose_order_replies: int | None = None,
                  fill_limit_pct: int | None = None, fail_next: int | None = None) -> None:
        if latency_ms is not None:
            self.latency_ms = max(0.0, float(latency_ms))
        if error_rate is not None:
            self.error_rate = min(1.0, max(0.0, float(error_rate)))
        if ws_drop_rate is not None:
            self.ws_drop_rate = min(1.0, max(0.0, float(ws_drop_rate)))
        if lose_order_replies is not None:
            self.lose_order_replies = max(0, int(lose_order_replies))
        if fill_limit_pct is not None:
            self.fill_limit_pct = min(99, max(0, int(fill_limit_pct)))
        if fail_next is not None:
            self.fail_next = max(0, int(fail_next))

    def fill_room(self, quantity: int, filled: int, lot: int) -> int | None:
        """How much more of an order may fill under `fill_limit_pct` (lot multiples); None
        when no limit is set."""
        if not self.fill_limit_pct:
            return None
        cap = quantity * self.fill_limit_pct // 100 // lot * lot
        return max(0, cap - filled)

    def lose_reply(self) -> bool:
        """True (once per configured count) when this placement's reply is to be lost."""
        if self.lose_order_replies <= 0:
            return False
        self.lose_order_replies -= 1
        self.lost_replies += 1
        return True

    def clear_ws(self) -> None:
        self.ws_down_until = 0.0
        self.tick_delay_s = 0.0

    def ws_down(self, now: float) -> bool:
        return now < self.ws_down_until

    def pick_error(self) -> int | None:
        """An HTTP status to fail this request with, or None."""
        if self.fail_next > 0:
            self.fail_next -= 1
            return 503
        if self.error_rate and self._rng.random() < self.error_rate:
            return self._rng.choice((502, 503, 500))
        return None

    def drop_socket(self) -> bool:
        return bool(self.ws_drop_rate) and self._rng.random() < self.ws_drop_rate

    def as_dict(self) -> dict:
        return {"latency_ms": self.latency_ms, "error_rate": self.error_rate,
                "ws_drop_rate": self.ws_drop_rate,
                "lose_order_replies": self.lose_order_replies,
                "lost_replies": self.lost_replies, "fill_limit_pct": self.fill_limit_pct,
                "fail_next": self.fail_next}

    def ws_dict(self, now: float) -> dict:
        return {"down_for_s": max(0.0, self.ws_down_until - now),
                "tick_delay_s": self.tick_delay_s}
