"""Helpers for the ticker tests: a recorder for a TickerPool's callbacks and a deadline poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from services.marketdata.ticks import MODE_NAMES, TickBatch


async def until(cond: Callable[[], bool], within: float, what: str) -> float:
    """Poll `cond` until true; returns the seconds waited, fails naming `what` at the deadline."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > within:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


@dataclass
class Recorder:
    """What a pool reported: ticks (token -> mode name and connection), states, postbacks."""

    states: list[tuple[int, str, str, float]] = field(default_factory=list)
    postbacks: list[dict] = field(default_factory=list)
    modes: dict[int, str] = field(default_factory=dict)  # last mode seen per token
    conn_of: dict[int, int] = field(default_factory=dict)
    batches: int = 0
    since: dict[int, float] = field(default_factory=dict)  # token -> first tick after mark()
    _mark: float = 0.0

    def on_ticks(self, batch: TickBatch, index: int) -> None:
        self.batches += 1
        now = time.monotonic()
        for token, mode in zip(batch.token.tolist(), batch.mode.tolist(), strict=True):
            self.modes[token] = MODE_NAMES[mode]
            self.conn_of[token] = index
            if self._mark and token not in self.since:
                self.since[token] = now

    def on_state(self, index: int, state: str, detail: str) -> None:
        self.states.append((index, state, detail, time.monotonic()))

    def on_postback(self, data: dict) -> None:
        self.postbacks.append(data)

    def mark(self) -> None:
        """Start collecting `since` afresh (ticks that arrive after this instant)."""
        self._mark = time.monotonic()
        self.since = {}
        self.modes = {}

    def state_names(self, index: int = 0) -> list[str]:
        return [s for i, s, _, _ in self.states if i == index]

    def count(self, state: str, index: int = 0) -> int:
        return self.state_names(index).count(state)
