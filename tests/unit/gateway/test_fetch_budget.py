"""The confirmation rule of bounded fetches: the message names `confirm`, the calls and their
time at the historical rate limit; at or below the threshold, or confirmed, it passes."""

from __future__ import annotations

import pytest

from mandi.core.errors import InvalidInput
from services.gateway.fetch_budget import duration_text, require_confirmation


def test_require_confirmation_when_reviews_batch_unconfirmed_names_calls_and_hours() -> None:
    with pytest.raises(InvalidInput) as err:
        require_confirmation(61_850, False, limit=1000, rate_per_s=3.0)
    assert err.value.field == "confirm"
    assert "61,850 Kite calls" in err.value.message and "5.7 h" in err.value.message
    require_confirmation(61_850, True, limit=1000, rate_per_s=3.0)
    require_confirmation(1000, False, limit=1000, rate_per_s=3.0)


def test_duration_text_when_seconds_minutes_hours() -> None:
    assert [duration_text(s) for s in (40, 600, 20_616)] == ["40 s", "10 min", "5.7 h"]
