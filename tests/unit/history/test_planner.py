"""The planner turns ranges into Kite-sized requests and an ETA."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from mandi.core.errors import InvalidInput
from mandi.core.intervals import parse_interval
from services.history.planner import (
    Chunk,
    eta_seconds,
    max_span,
    plan_batch,
    plan_chunks,
    plan_ranges,
    resume_chunks,
)

MINUTE = parse_interval("minute")
DAY = parse_interval("day")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _contiguous(chunks: list[Chunk]) -> bool:
    return all(b.start - a.end == timedelta(seconds=1) for a, b in itertools.pairwise(chunks))


def test_plan_chunks_when_year_of_minutes_splits_into_sixty_day_requests() -> None:
    end = T0 + timedelta(days=366) - timedelta(seconds=1)
    chunks = plan_chunks(MINUTE, T0, end)
    assert len(chunks) == 7  # ceil(366 / 60)
    assert chunks[0].start == T0 and chunks[-1].end == end
    assert _contiguous(chunks)
    assert all(c.end - c.start <= timedelta(days=60) for c in chunks)


def test_plan_chunks_when_range_fits_one_request_returns_one_chunk() -> None:
    chunks = plan_chunks(DAY, T0, T0 + timedelta(days=1999))
    assert chunks == [Chunk(T0, T0 + timedelta(days=1999))]


def test_plan_chunks_when_from_after_to_raises_naming_from() -> None:
    with pytest.raises(InvalidInput) as err:
        plan_chunks(MINUTE, T0, T0 - timedelta(minutes=1))
    assert err.value.field == "from"


def test_plan_chunks_when_naive_timestamp_raises() -> None:
    with pytest.raises(InvalidInput) as err:
        plan_chunks(MINUTE, T0, datetime(2024, 2, 1))
    assert err.value.field == "to"


def test_plan_ranges_when_many_small_holes_merges_into_one_request() -> None:
    holes = [(T0 + timedelta(days=d), T0 + timedelta(days=d, hours=1)) for d in range(0, 50, 2)]
    chunks = plan_ranges(MINUTE, holes)
    assert chunks == [Chunk(holes[0][0], holes[-1][1])]


def test_plan_ranges_when_holes_span_beyond_limit_splits_without_overlap() -> None:
    holes = [(T0, T0 + timedelta(hours=1)), (T0 + timedelta(days=100), T0 + timedelta(days=101))]
    chunks = plan_ranges(MINUTE, holes)
    assert chunks == [Chunk(*holes[0]), Chunk(*holes[1])]


def test_plan_ranges_when_one_hole_exceeds_limit_splits_it() -> None:
    chunks = plan_ranges(MINUTE, [(T0, T0 + timedelta(days=130))])
    assert len(chunks) == 3 and _contiguous(chunks)
    assert all(c.end - c.start <= max_span(MINUTE) for c in chunks)


def test_plan_ranges_when_no_holes_returns_nothing() -> None:
    assert plan_ranges(MINUTE, []) == []


def test_resume_chunks_when_cursor_mid_plan_skips_completed_chunks() -> None:
    chunks = plan_chunks(MINUTE, T0, T0 + timedelta(days=150))
    left = resume_chunks(chunks, chunks[1].end)
    assert left == chunks[2:]
    assert resume_chunks(chunks, None) == chunks


def test_resume_chunks_when_cursor_inside_chunk_starts_after_cursor() -> None:
    chunks = plan_chunks(MINUTE, T0, T0 + timedelta(days=10))
    cursor = T0 + timedelta(days=3)
    assert resume_chunks(chunks, cursor) == [Chunk(cursor + timedelta(seconds=1), chunks[0].end)]


def test_eta_seconds_when_rate_three_per_second_counts_requests_beyond_burst() -> None:
    assert eta_seconds(30, 3.0) == pytest.approx(10.0)
    assert eta_seconds(30, 3.0, burst=3) == pytest.approx(9.0)
    assert eta_seconds(0, 3.0) == 0.0


def test_plan_batch_when_two_items_sums_requests_and_eta() -> None:
    end = T0 + timedelta(days=365)
    plan = plan_batch([("NSE:INFY", MINUTE), ("NSE:TCS", DAY)], T0, end, rate_per_s=3.0)
    assert [p.requests for p in plan.items] == [7, 1]
    assert plan.requests == 8
    assert plan.eta_seconds == pytest.approx(8 / 3)


@pytest.mark.parametrize("interval", ["minute", "3minute", "15minute", "60minute", "day"])
@pytest.mark.parametrize("days", [0, 1, 59, 60, 61, 100, 399, 2000, 2001, 46_000])
def test_interval_requests_for_equals_the_planners_chunk_count(interval: str, days: int) -> None:
    iv = parse_interval(interval)
    for end in (T0 + timedelta(days=days), T0 + timedelta(days=days) - timedelta(seconds=1)):
        if end >= T0:
            assert iv.requests_for(T0, end) == len(plan_chunks(iv, T0, end)), (interval, end)
    assert iv.requests_for(T0, T0 - timedelta(seconds=1)) == 0
