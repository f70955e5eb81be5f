"""CandleBuilder on synthetic tick batches: one minute's OHLC/volume/OI, day reset, volume
clamps, closing by tick and by grace, late ticks, gaps (start, reconnect, no baseline) with
fill/give_up and in-order release, roll-ups on the 09:15 grid and on special sessions."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from mandi.core.calendar import SPECIAL_SESSIONS, session
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from services.marketdata.candles import Bar, CandleBuilder, Gap
from services.marketdata.ticks import MODE_FULL, MODE_QUOTE, TickBatch

DAY = date(2025, 11, 20)  # Thursday
NEXT = date(2025, 11, 21)  # Friday
T = 408065


def at(h: int, m: int, s: float = 0, day: date = DAY) -> int:
    return int(datetime(day.year, day.month, day.day, h, m, int(s), tzinfo=IST).timestamp())


def ticks(*rows: tuple) -> TickBatch:
    """rows: (token, exchange_ts, price, volume[, oi]); full mode."""
    b = TickBatch.empty(len(rows))
    for i, row in enumerate(rows):
        tok, ts, price, vol = row[:4]
        b.token[i], b.exchange_ts[i], b.price[i], b.volume[i] = tok, ts, price, vol
        b.oi[i] = row[4] if len(row) > 4 else -1
        b.mode[i] = MODE_FULL
    return b


def minute_bar(tok: int, start: int, price: int, volume: int) -> Bar:
    return Bar(tok, "minute", start, price, price + 5, price - 5, price, volume, 0, "history")


def shape(bars: list) -> list[tuple]:
    return [(b.interval, b.start, b.source) if isinstance(b, Bar) else ("gap", b.start, b.end)
            for b in bars]


@pytest.fixture
def cb() -> CandleBuilder:
    b = CandleBuilder(grace_s=3)
    assert b.track(T, ["minute"], at(9, 14, 30)) == []  # before the open: nothing missed
    return b


def test_one_minute_ohlc_volume_oi(cb):
    out = cb.on_ticks(ticks((T, at(9, 15, 0), 100, 10, 5), (T, at(9, 15, 20), 105, 30),
                            (T, at(9, 15, 40), 95, 35, 7), (T, at(9, 15, 59), 101, 50)))
    assert out == []  # still forming
    (bar,) = cb.on_ticks(ticks((T, at(9, 16, 1), 102, 62)))
    assert bar == Bar(T, "minute", at(9, 15), 100, 105, 95, 101, 50, 7, "ticks")
    (bar,) = cb.on_clock(at(9, 17, 3))
    assert (bar.start, bar.open, bar.close, bar.volume, bar.oi) == (at(9, 16), 102, 102, 12, 7)


def test_closes_on_the_clock_only_after_grace(cb):
    cb.on_ticks(ticks((T, at(9, 15, 5), 100, 10)))
    assert cb.on_clock(at(9, 16, 2)) == []  # end + 2 s: a late tick may still come
    out = cb.on_ticks(ticks((T, at(9, 15, 58), 103, 15)))
    assert out == [] and cb.stats["late_ticks"] == 0
    (bar,) = cb.on_clock(at(9, 16, 3))
    assert (bar.high, bar.close, bar.volume) == (103, 103, 15)


def test_late_tick_is_counted_and_not_merged(cb):
    cb.on_ticks(ticks((T, at(9, 15, 5), 100, 10)))
    (closed,) = cb.on_ticks(ticks((T, at(9, 16, 0), 100, 20)))
    assert cb.on_ticks(ticks((T, at(9, 15, 59), 999, 19))) == []
    assert cb.stats["late_ticks"] == 1
    (nxt,) = cb.on_clock(at(9, 17, 3))
    assert closed.high == 100 and nxt.high == 100 and nxt.volume == 10  # 999 went nowhere


def test_minute_skipped_by_a_later_tick_makes_its_ticks_late(cb):
    cb.on_ticks(ticks((T, at(9, 15, 5), 100, 10), (T, at(9, 17, 5), 101, 30)))
    assert cb.on_ticks(ticks((T, at(9, 16, 30), 500, 20))) == []
    assert cb.stats["late_ticks"] == 1
    (bar,) = cb.on_clock(at(9, 18, 3))
    assert (bar.start, bar.volume) == (at(9, 17), 20)


def test_volume_resets_each_day():
    cb = CandleBuilder()
    cb.track(T, ["minute"], at(9, 14, 0))
    cb.on_ticks(ticks((T, at(15, 29, 10), 100, 90_000)))
    (last,) = cb.on_clock(at(15, 30, 3))
    assert (last.start, last.volume) == (at(15, 29), 90_000)  # the day's first against 0
    out = cb.on_ticks(ticks((T, at(9, 15, 1, NEXT), 100, 40),
                            (T, at(9, 16, 1, NEXT), 100, 70)))
    assert [(b.start, b.volume) for b in out] == [(at(9, 15, day=NEXT), 40)]
    assert cb.stats["volume_resets"] == 0


def test_negative_volume_difference_clamps_to_zero_and_counts(cb):
    out = cb.on_ticks(ticks((T, at(9, 15, 5), 100, 100), (T, at(9, 16, 5), 100, 90),
                            (T, at(9, 17, 5), 100, 95)))
    assert [b.volume for b in out] == [100, 0]
    assert cb.stats["volume_resets"] == 1
    (bar,) = cb.on_clock(at(9, 18, 3))
    assert bar.volume == 5  # the next bar diffs against the lower figure


def test_ticks_outside_sessions_and_untracked_are_ignored_and_counted(cb):
    sunday = date(2025, 11, 23)
    out = cb.on_ticks(ticks((T, at(9, 10), 1, 1), (T, at(15, 30, 5), 1, 1),
                            (T, at(10, 0, day=sunday), 1, 1), (999, at(9, 15, 1), 1, 1)))
    assert out == []
    assert cb.stats["outside_session"] == 3 and cb.stats["untracked_ticks"] == 1


def test_ticks_without_exchange_time_are_counted_not_bucketed(cb):
    # a quote snapshot before the `mode` message lands carries yesterday's cumulative volume
    quote = ticks((T, 0, 90, 999_999))
    quote.mode[:] = MODE_QUOTE
    cb.on_ticks(quote)
    cb.on_ticks(ticks((T, at(9, 15, 10), 100, 10), (T, at(9, 15, 50), 120, 25)))
    (bar,) = cb.on_clock(at(9, 16, 3))
    assert (bar.start, bar.open, bar.close, bar.volume) == (at(9, 15), 100, 120, 25)
    assert cb.stats["unstamped_ticks"] == 1


def test_stale_snapshot_before_tracking_is_not_a_bar(cb):
    # the pre-open snapshot carries yesterday's last exchange second
    cb.on_ticks(ticks((T, at(15, 29, 59, date(2025, 11, 19)), 100, 5)))
    assert cb.on_clock(at(9, 14, 50)) == [] and cb.stats["stale_ticks"] == 1


def test_mid_session_track_returns_the_gap_and_holds_later_bars_until_fill():
    cb = CandleBuilder()
    (gap,) = cb.track(T, ["minute"], at(10, 0, 30))
    assert gap == Gap(T, at(9, 15), at(10, 1), "start")
    out = cb.on_ticks(ticks((T, at(10, 0, 40), 100, 500), (T, at(10, 1, 10), 101, 520),
                            (T, at(10, 2, 5), 102, 560)))
    assert out == []  # 10:00 is partial (part of the gap); 10:01 waits behind the gap
    assert cb.pending_gaps(T) == [gap]
    history = [minute_bar(T, at(9, 15) + 60 * i, 90, 7) for i in range(46)]
    out = cb.fill(T, [*history, minute_bar(T, at(10, 1), 1, 1)])  # 10:01 is not in the gap
    assert [b.start for b in out] == [at(9, 15) + 60 * i for i in range(47)]
    assert [b.source for b in out] == ["history"] * 46 + ["ticks"]
    assert (out[-1].open, out[-1].volume) == (101, 20)
    assert cb.pending_gaps(T) == [] and cb.stats["bars_from_history"] == 46


def test_a_gap_of_one_token_does_not_hold_another():
    cb = CandleBuilder()
    cb.track(1, ["minute"], at(9, 14))
    assert cb.track(2, ["minute"], at(9, 20, 30)) == [Gap(2, at(9, 15), at(9, 21), "start")]
    out = cb.on_ticks(ticks((1, at(9, 21, 1), 5, 1), (2, at(9, 21, 2), 5, 1),
                            (1, at(9, 22, 1), 5, 2), (2, at(9, 22, 2), 5, 2)))
    assert [(b.token, b.start) for b in out] == [(1, at(9, 21))]


def test_first_tick_after_tracking_too_late_extends_the_gap():
    cb = CandleBuilder()
    (gap,) = cb.track(T, ["minute"], at(10, 0, 59))
    # no tick during 10:00: the 10:01 bar has no volume baseline
    cb.on_ticks(ticks((T, at(10, 1, 10), 100, 500), (T, at(10, 2, 0), 100, 530)))
    assert cb.take_gaps() == [Gap(T, at(10, 1), at(10, 2), "no_baseline")]
    assert cb.take_gaps() == []
    assert cb.fill(T, [], gap) == []  # still behind the no_baseline gap
    out = cb.fill(T, [minute_bar(T, at(10, 1), 100, 30)])
    assert [(b.start, b.source) for b in out] == [(at(10, 1), "history")]
    (bar,) = cb.on_clock(at(10, 3, 3))
    assert (bar.start, bar.volume, bar.source) == (at(10, 2), 30, "ticks")


def _reconnected(intervals: list[str]) -> tuple[CandleBuilder, Gap, list[Bar]]:
    cb = CandleBuilder()
    cb.track(T, intervals, at(9, 14))
    out = cb.on_ticks(ticks((T, at(10, 0, 10), 100, 1000), (T, at(10, 1, 5), 100, 1010)))
    cb.feed_down([T], at(10, 1, 30))
    assert cb.on_ticks(ticks((T, at(10, 2, 0), 100, 1020))) == []
    assert cb.stats["down_ticks"] == 1
    assert cb.on_clock(at(10, 3)) == []
    (gap,) = cb.feed_up([T, 12345], at(10, 3, 20))
    assert cb.feed_up([T], at(10, 3, 21)) == []  # already up: nothing new
    assert gap == Gap(T, at(10, 1), at(10, 4), "feed_down")
    out += cb.on_ticks(ticks((T, at(10, 3, 30), 100, 1100), (T, at(10, 4, 10), 100, 1150),
                             (T, at(10, 5, 1), 100, 1160)))
    return cb, gap, out


def test_feed_down_and_up_gap_covers_the_partial_bars_and_fill_releases_in_order():
    cb, gap, out = _reconnected(["minute"])
    assert [(b.start, b.volume) for b in out] == [(at(10, 0), 1000)]  # 10:04 waits
    filled = cb.fill(T, [minute_bar(T, at(10, m), 100, 3) for m in (1, 2, 3)], gap)
    assert shape(filled) == [("minute", at(10, 1), "history"), ("minute", at(10, 2), "history"),
                             ("minute", at(10, 3), "history"), ("minute", at(10, 4), "ticks")]
    assert filled[-1].volume == 50  # baseline from the 10:03:30 tick after the reconnect


def test_give_up_reports_the_gap_releases_later_bars_and_skips_overlapping_rollups():
    cb, gap, out = _reconnected(["minute", "5minute"])
    assert shape(out) == [("minute", at(10, 0), "ticks")]
    released = cb.give_up(gap)
    assert shape(released) == [("gap", at(10, 1), at(10, 4)), ("minute", at(10, 4), "ticks")]
    assert released[0] == gap and cb.stats["gaps_given_up"] == 1
    assert cb.give_up(gap) == []  # only once
    # 10:00-10:05 overlaps the gap: not emitted; 10:05-10:10 is whole
    more = cb.on_ticks(ticks(*[(T, at(10, m, 1), 100 + m, 1160 + m) for m in range(6, 11)]))
    assert shape(more) == [("minute", at(10, m), "ticks") for m in range(5, 10)] + \
        [("5minute", at(10, 5), "ticks")]
    assert cb.stats["rollups_skipped"] == 1
    five = more[-1]
    assert (five.open, five.close, five.volume) == (100, 109, 1169 - 1150)


def _whole_day(day: date, intervals: list[str]) -> tuple[CandleBuilder, list[Bar]]:
    """One tick at second 30 of every session minute, price = minute index, volume 10/min."""
    sess = session(day)
    starts = [int(t.timestamp()) for t in
              (datetime.combine(day, datetime.min.time(), IST).replace(hour=m // 60,
                                                                          minute=m % 60)
               for m in sess.minute_starts())]
    cb = CandleBuilder()
    cb.track(T, intervals, starts[0] - 600)
    rows = [(T, s + 30, 1000 + i, 10 * (i + 1)) for i, s in enumerate(starts)]
    out = cb.on_ticks(ticks(*rows))  # the whole day in one batch
    out += cb.on_clock(starts[-1] + 60 + 3)
    return cb, out


def test_rollups_are_aligned_to_0915_with_the_last_hour_cut_at_1530():
    ivs = ["minute", "3minute", "5minute", "10minute", "15minute", "30minute", "60minute"]
    cb, out = _whole_day(DAY, ivs)
    by = {iv: [b for b in out if b.interval == iv] for iv in ivs}
    assert [len(by[iv]) for iv in ivs] == [375, 125, 75, 38, 25, 13, 7]
    assert [b.start for b in by["60minute"]] == [at(h, 15) for h in range(9, 16)]
    last = by["60minute"][-1]
    assert (last.open, last.close, last.volume) == (1000 + 360, 1000 + 374, 150)
    assert (by["10minute"][-1].start, by["10minute"][-1].volume) == (at(15, 25), 50)
    first15 = by["15minute"][0]
    assert (first15.start, first15.open, first15.high, first15.low, first15.close,
            first15.volume) == (at(9, 15), 1000, 1014, 1000, 1014, 150)
    assert all(b.source == "ticks" for b in out) and cb.stats["late_ticks"] == 0
    # released in order: each roll-up right after the minute that completes it
    i = out.index(by["minute"][14])  # 09:29 completes a 3-, a 5- and a 15-minute bar
    assert [(b.interval, b.start) for b in out[i:i + 5]] == [
        ("minute", at(9, 29)), ("3minute", at(9, 27)), ("5minute", at(9, 25)),
        ("15minute", at(9, 15)), ("minute", at(9, 30))]


def test_rollups_only_for_tracked_intervals():
    _, out = _whole_day(DAY, ["15minute"])
    assert {b.interval for b in out} == {"15minute"} and len(out) == 25


def test_special_sessions_align_to_their_own_open():
    muhurat = date(2025, 10, 21)
    assert SPECIAL_SESSIONS[muhurat][0] == "muhurat"
    _, out = _whole_day(muhurat, ["15minute", "60minute"])
    open_ = at(13, 45, day=muhurat)
    assert [(b.interval, b.start) for b in out] == [
        ("15minute", open_), ("15minute", open_ + 900), ("15minute", open_ + 1800),
        ("15minute", open_ + 2700), ("60minute", open_)]
    dr = date(2024, 3, 2)  # a Saturday DR drill: 09:15-10:00 and 11:30-12:30
    _, out = _whole_day(dr, ["60minute"])
    assert [(b.start, b.volume) for b in out] == [(at(9, 15, day=dr), 450),
                                                  (at(11, 30, day=dr), 600)]


def test_track_mid_session_on_a_special_day_gaps_only_its_minutes():
    dr = date(2024, 3, 2)
    cb = CandleBuilder()
    assert cb.track(T, ["minute"], at(10, 30, day=dr)) == [
        Gap(T, at(9, 15, day=dr), at(10, 0, day=dr), "start")]
    assert cb.track(99, ["minute"], at(10, 30, day=date(2025, 11, 23))) == []  # a Sunday


def test_unknown_or_daily_interval_is_invalid_input_naming_the_field():
    cb = CandleBuilder()
    for bad in (["7minute"], ["day"]):
        with pytest.raises(InvalidInput) as err:
            cb.track(T, bad, at(9, 14))
        assert err.value.field == "intervals"
    cb.track(T, ["5min"], at(9, 14))  # aliases are accepted, stored canonically
    assert cb.tracked() == {T: ("5minute",)}


def test_untrack_stops_building():
    cb = CandleBuilder()
    cb.track(T, ["minute"], at(9, 14))
    cb.on_ticks(ticks((T, at(9, 15, 1), 1, 1)))
    cb.untrack(T)
    assert cb.on_clock(at(9, 20)) == [] and cb.tracked() == {}
    cb.on_ticks(ticks((T, at(9, 20, 1), 1, 1)))
    assert cb.stats["untracked_ticks"] == 1
