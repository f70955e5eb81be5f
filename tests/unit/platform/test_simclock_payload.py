"""kitesim answers /sim/clock inside its Kite-style envelope; SimClock reads both shapes."""

from datetime import UTC, datetime

import pytest

from mandi.core.errors import TemporaryError
from mandi.platform.simclock import parse_clock_payload


def test_parse_clock_payload_when_enveloped_reads_data() -> None:
    now, speed = parse_clock_payload(
        {"status": "success", "data": {"now": "2026-03-02T15:45:01+05:30", "speed": 60}})
    assert now == datetime(2026, 3, 2, 10, 15, 1, tzinfo=UTC) and speed == 60.0


def test_parse_clock_payload_when_naive_raises() -> None:
    with pytest.raises(TemporaryError):
        parse_clock_payload({"now": "2026-03-02T15:45:01"})
