"""Candles built from ticks (H2 owns this module; this placeholder holds only the two records the
fan-out needs, exactly as md-spec.md defines them, until the CandleBuilder lands)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bar:
    token: int
    interval: str
    start: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    oi: int
    source: str  # "ticks" | "history"; prices in packet units


@dataclass(frozen=True, slots=True)
class Gap:
    token: int
    start: int
    end: int
    reason: str  # minute range [start, end)
