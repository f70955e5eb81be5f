"""The interval names users may give and the one alias table behind them."""

from __future__ import annotations

import pytest

from mandi.core.errors import InvalidInput
from mandi.core.intervals import ALIASES, INTERVALS, parse_interval


@pytest.mark.parametrize(("given", "canonical", "minutes"), [
    ("minute", "minute", 1), ("1min", "minute", 1), ("3min", "3minute", 3),
    ("5min", "5minute", 5), ("10min", "10minute", 10), ("15min", "15minute", 15),
    ("30min", "30minute", 30), ("60min", "60minute", 60), ("day", "day", 0),
    ("15MIN", "15minute", 15), (" 5minute ", "5minute", 5), ("DAY", "day", 0),
])
def test_parse_interval_when_kite_name_or_alias_answers_the_kite_interval(
    given: str, canonical: str, minutes: int,
) -> None:
    iv = parse_interval(given)
    assert (iv.name, iv.minutes) == (canonical, minutes)


def test_aliases_when_listed_name_a_kite_interval_and_never_shadow_one() -> None:
    assert set(ALIASES.values()) <= set(INTERVALS)
    assert not set(ALIASES) & set(INTERVALS)


@pytest.mark.parametrize("bad", ["2min", "5m", "hourly", "", "5 min", "day'; --"])
def test_parse_interval_when_unknown_raises_naming_field_and_every_accepted_name(bad) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_interval(bad, field="resample")
    assert err.value.field == "resample"
    assert err.value.message == (
        f"unknown interval {bad!r}; expected one of minute, 3minute, 5minute, 10minute, "
        "15minute, 30minute, 60minute, day (or 1min, 3min, 5min, 10min, 15min, 30min, 60min)")
