"""Request planning: how a date range becomes Kite historical requests, and how long they take.

Kite rejects a historical request whose span exceeds the interval's maximum (60 days of minute
bars, 2000 of day bars…), and the API key may make only ~3 such requests per second across all
replicas. Knowing the request count up front lets a batch report an honest ETA before it starts
and lets progress say "requests done / left".

Chunks are closed intervals [start, end]: Kite includes both `from` and `to`, so consecutive
chunks are separated by one second to avoid fetching the boundary bar twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mandi.core.errors import InvalidInput
from mandi.core.intervals import Interval

_EPS = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One historical request: bars stamped in [start, end], both tz-aware."""

    start: datetime
    end: datetime


def _check_range(start: datetime, end: datetime) -> None:
    if start.tzinfo is None:
        raise InvalidInput("'from' must be timezone-aware", field="from")
    if end.tzinfo is None:
        raise InvalidInput("'to' must be timezone-aware", field="to")
    if end < start:
        raise InvalidInput(f"'from' ({start.isoformat()}) is after 'to' ({end.isoformat()})",
                           field="from")


def max_span(interval: Interval) -> timedelta:
    """The widest [start, end] one request may cover (Kite's limit less a second of margin)."""
    return timedelta(days=interval.max_days) - _EPS


def plan_chunks(interval: Interval, start: datetime, end: datetime) -> list[Chunk]:
    """Split [start, end] into the fewest requests Kite accepts."""
    _check_range(start, end)
    span = max_span(interval)
    chunks: list[Chunk] = []
    cursor = start
    while cursor <= end:
        chunk_end = min(cursor + span, end)
        chunks.append(Chunk(cursor, chunk_end))
        cursor = chunk_end + _EPS
    return chunks


def plan_ranges(interval: Interval, ranges: Iterable[tuple[datetime, datetime]]) -> list[Chunk]:
    """Cover many (possibly small) missing ranges with as few requests as possible.

    Neighbouring ranges are merged into one request while the merged span stays within Kite's
    limit — filling 200 one-session holes inside two months costs one request, not 200. The
    caller filters fetched bars back to the ranges, so bars between holes are not rewritten.
    """
    span = max_span(interval)
    ordered = sorted((s, e) for s, e in ranges if e >= s)
    chunks: list[Chunk] = []
    cur_start: datetime | None = None
    cur_end: datetime | None = None
    for s, e in ordered:
        if cur_start is not None and cur_end is not None:
            if e <= cur_end:
                continue
            if e - cur_start <= span:
                cur_end = e
                continue
            chunks.append(Chunk(cur_start, cur_end))
            s = max(s, cur_end + _EPS)
        if e - s <= span:
            cur_start, cur_end = s, e
        else:
            pieces = plan_chunks(interval, s, e)
            chunks.extend(pieces[:-1])
            cur_start, cur_end = pieces[-1].start, pieces[-1].end
    if cur_start is not None and cur_end is not None:
        chunks.append(Chunk(cur_start, cur_end))
    return chunks


def resume_chunks(chunks: Sequence[Chunk], cursor: datetime | None) -> list[Chunk]:
    """The chunks still to do after a crash, given the end of the last chunk completed."""
    if cursor is None:
        return list(chunks)
    left: list[Chunk] = []
    for chunk in chunks:
        if chunk.end <= cursor:
            continue
        left.append(Chunk(max(chunk.start, cursor + _EPS), chunk.end))
    return left


def eta_seconds(requests: int, rate_per_s: float, *, burst: int = 0) -> float:
    """Time to make `requests` calls under a token bucket of `rate_per_s` with `burst` tokens
    available now. Network latency overlaps with the bucket's refill, so it is ignored."""
    if requests <= 0:
        return 0.0
    if rate_per_s <= 0:
        return math.inf
    return max(0, requests - burst) / rate_per_s


@dataclass(frozen=True, slots=True)
class ItemPlan:
    key: str
    interval: str
    requests: int


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What a batch will cost before it starts."""

    items: tuple[ItemPlan, ...]
    requests: int
    eta_seconds: float


def plan_batch(
    items: Sequence[tuple[str, Interval]], start: datetime, end: datetime, *, rate_per_s: float
) -> BatchPlan:
    """Request count and ETA for fetching [start, end] for every (key, interval) item.

    This is the upper bound (a full fetch); an incremental batch may need fewer requests, which
    progress reports as it learns what is stored.
    """
    _check_range(start, end)
    plans = tuple(ItemPlan(key, iv.name, len(plan_chunks(iv, start, end))) for key, iv in items)
    total = sum(p.requests for p in plans)
    return BatchPlan(plans, total, eta_seconds(total, rate_per_s))
