"""validation.validate: which bars are refused, and that the counts explain every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mandi.core.candles import CandleFrame, to_ms
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from services.history.validation import REASONS, validate

NOW = datetime(2024, 6, 1, tzinfo=UTC)
MON = datetime(2024, 1, 1, 9, 15, tzinfo=IST)  # Monday 1 Jan 2024, a trading day


def bars(starts: list[datetime], **cols: list[float]) -> CandleFrame:
    n = len(starts)
    base = {"open": [100.0] * n, "high": [101.0] * n, "low": [99.0] * n, "close": [100.5] * n,
            "volume": [10] * n, "oi": [0] * n}
    base.update(cols)
    return CandleFrame.from_columns({"ts": [to_ms(t) for t in starts], **base})


def minutes(n: int, start: datetime = MON, step: int = 1) -> list[datetime]:
    return [start + timedelta(minutes=step * i) for i in range(n)]


def test_validate_when_all_bars_good_returns_frame_unchanged() -> None:
    frame = bars(minutes(375))
    valid, issues = validate(frame, interval="minute", segment="EQUITY", now=NOW)
    assert issues == {}
    assert valid.equals(frame)


def test_validate_when_ohlc_relations_broken_drops_rows_with_reasons() -> None:
    frame = bars(minutes(4), high=[101, 98, 101, 101], open=[100, 100, 102, 100],
                 close=[100.5, 100.5, 100.5, 98])
    valid, issues = validate(frame, interval="minute", segment="EQUITY", now=NOW)
    assert issues == {"high < low": 1, "open outside low..high": 1, "close outside low..high": 1}
    assert valid.ts.tolist() == [to_ms(MON)]


def test_validate_when_volume_negative_or_price_nan_counts_each_reason() -> None:
    frame = bars(minutes(3), volume=[-1, 5, 5], open=[100, np.nan, 100])
    valid, issues = validate(frame, interval="minute", segment="EQUITY", now=NOW)
    assert issues == {"negative volume": 1, "non-finite value": 1}
    assert len(valid) == 1


def test_validate_when_equity_price_below_paisa_refuses_but_option_premium_passes() -> None:
    frame = bars(minutes(1), open=[0.005], high=[0.005], low=[0.005], close=[0.005])
    _, eq = validate(frame, interval="minute", segment="EQUITY", now=NOW)
    valid, deriv = validate(frame, interval="minute", segment="NFO", now=NOW)
    assert eq == {"price below segment minimum": 1}
    assert deriv == {} and len(valid) == 1


def test_validate_when_bar_outside_session_or_misaligned_refuses() -> None:
    day = MON.replace(hour=0, minute=0)
    starts = [day.replace(hour=9, minute=0), day.replace(hour=15, minute=30),
              day.replace(hour=9, minute=20), day.replace(hour=15, minute=25),
              MON + timedelta(seconds=30)]
    valid, issues = validate(bars(starts), interval="5minute", segment="EQUITY", now=NOW)
    # 09:00 and 15:30 are outside; 09:20 and 15:25 are on the 5-minute grid from 09:15
    assert issues == {"outside session": 2, "misaligned timestamp": 1}
    assert [t.astimezone(IST).strftime("%H:%M") for t in valid.datetimes()] == ["09:20", "15:25"]


def test_validate_when_bar_on_weekend_or_holiday_refuses() -> None:
    saturday = MON + timedelta(days=5)
    republic_day = datetime(2024, 1, 26, 9, 15, tzinfo=IST)
    _, issues = validate(bars([MON, saturday, republic_day]), interval="minute",
                         segment="EQUITY", now=NOW)
    assert issues == {"not a trading day": 2}


def test_validate_when_bar_starts_after_now_or_still_forming_refuses() -> None:
    now = MON + timedelta(minutes=2, seconds=30)
    valid, issues = validate(bars(minutes(5)), interval="minute", segment="EQUITY", now=now)
    # 09:15, 09:16 final; 09:17 forming at 09:17:30 (finding D); 09:18, 09:19 in the future
    assert issues == {"in the future": 2, "forming bar": 1}
    assert len(valid) == 2


def test_validate_when_day_bar_of_session_in_progress_refuses_it() -> None:
    day = datetime(2024, 1, 2, tzinfo=IST)
    frame = bars([day])
    _, during = validate(frame, interval="day", segment="EQUITY",
                         now=day.replace(hour=15, minute=29))
    valid, after = validate(frame, interval="day", segment="EQUITY",
                            now=day.replace(hour=15, minute=30))
    assert during == {"forming bar": 1} and after == {} and len(valid) == 1


def test_validate_when_special_sessions_keeps_their_bars() -> None:
    # finding G: Kite's real bars of Muhurat and weekend sessions were dropped
    muhurat = [datetime(2024, 11, 1, 18, 0, tzinfo=IST), datetime(2024, 11, 1, 18, 59,
                                                                     tzinfo=IST)]
    budget_sunday = [datetime(2026, 2, 1, 9, 15, tzinfo=IST)]
    saturday_full = [datetime(2024, 1, 20, 15, 29, tzinfo=IST)]
    later = datetime(2026, 6, 1, tzinfo=UTC)
    valid, issues = validate(bars(muhurat + budget_sunday + saturday_full), interval="minute",
                             segment="EQUITY", now=later)
    assert issues == {} and len(valid) == 4


def test_validate_when_special_session_bar_outside_its_hours_refuses() -> None:
    # Muhurat 2024 is 18:00-19:00: 09:15 and 19:00 are outside; DR 2024-03-02 has a break
    # 10:00-11:30 and a 15-minute grid from 11:30 (11:40 is off it)
    starts = [datetime(2024, 11, 1, 9, 15, tzinfo=IST), datetime(2024, 11, 1, 19, 0, tzinfo=IST),
              datetime(2024, 3, 2, 10, 15, tzinfo=IST), datetime(2024, 3, 2, 11, 40, tzinfo=IST),
              datetime(2024, 3, 2, 11, 45, tzinfo=IST), datetime(2024, 3, 2, 9, 45, tzinfo=IST)]
    valid, issues = validate(bars(starts), interval="15minute", segment="EQUITY", now=NOW.replace(
        year=2025))
    assert issues == {"outside session": 3, "misaligned timestamp": 1}
    assert [t.astimezone(IST).strftime("%d %H:%M") for t in valid.datetimes()] == [
        "02 11:45", "02 09:45"]


def test_validate_when_duplicate_timestamps_keeps_first() -> None:
    frame = bars([MON, MON, MON + timedelta(minutes=1)], close=[100.1, 100.2, 100.3])
    valid, issues = validate(frame, interval="minute", segment="EQUITY", now=NOW)
    assert issues == {"duplicate timestamp": 1}
    assert valid.close.tolist() == [100.1, 100.3]


def test_validate_when_day_bar_not_at_ist_midnight_refuses() -> None:
    midnight = datetime(2024, 1, 2, tzinfo=IST)
    frame = bars([midnight, midnight + timedelta(days=1, hours=9, minutes=15)])
    valid, issues = validate(frame, interval="day", segment="EQUITY", now=NOW)
    assert issues == {"misaligned timestamp": 1}
    assert valid.ts.tolist() == [to_ms(midnight)]


def test_validate_when_rows_fail_several_checks_counts_each_row_once() -> None:
    rng = np.random.default_rng(7)
    n = 2000
    frame = CandleFrame.from_columns({
        "ts": to_ms(MON) + rng.integers(-3, 400, n) * 60_000,
        "open": rng.normal(100, 5, n), "high": rng.normal(103, 5, n),
        "low": rng.normal(97, 5, n), "close": rng.normal(100, 5, n),
        "volume": rng.integers(-5, 100, n), "oi": np.zeros(n),
    })
    valid, issues = validate(frame, interval="minute", segment="EQUITY", now=NOW)
    assert set(issues) <= set(REASONS)
    assert len(valid) + sum(issues.values()) == n
    assert len(np.unique(valid.ts)) == len(valid)


def test_validate_when_segment_unknown_raises_invalid_input_naming_field() -> None:
    with pytest.raises(InvalidInput) as err:
        validate(bars(minutes(1)), interval="minute", segment="MCX", now=NOW)
    assert err.value.field == "segment"


def test_validate_when_interval_unknown_raises_invalid_input_naming_field() -> None:
    with pytest.raises(InvalidInput) as err:
        validate(bars(minutes(1)), interval="2minute", segment="EQUITY", now=NOW)
    assert err.value.field == "interval"
