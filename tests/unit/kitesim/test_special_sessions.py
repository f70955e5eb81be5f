"""kitesim's live market follows special sessions: the session second at an instant, and the
price path spans exactly the session's minutes."""

from __future__ import annotations

from datetime import date, datetime

from mandi.core.clock import IST
from services.kitesim.market import Market


def test_locate_counts_session_seconds_across_a_dr_break():
    dr = date(2024, 3, 2)  # 09:15-10:00 and 11:30-12:30
    at = datetime(2024, 3, 2, 11, 30, 5, tzinfo=IST).timestamp()
    w = Market.locate(at)  # 45 minutes before the break: 45 * 60 + 5 = 2705
    assert (w.day, w.second, w.live) == (dr, 2705, True)
    w = Market.locate(datetime(2024, 3, 2, 10, 30, tzinfo=IST).timestamp())
    assert (w.day, w.second, w.live) == (dr, 45 * 60 - 1, False)  # the last second before it
    w = Market.locate(datetime(2024, 3, 2, 13, 0, tzinfo=IST).timestamp())
    assert (w.day, w.second, w.live) == (dr, 105 * 60 - 1, False)  # 105 session minutes


def test_locate_in_a_muhurat_hour_and_on_the_holiday_morning_before_it():
    w = Market.locate(datetime(2024, 11, 1, 18, 0, 30, tzinfo=IST).timestamp())
    assert (w.day, w.second, w.live) == (date(2024, 11, 1), 30, True)
    w = Market.locate(datetime(2024, 11, 1, 10, 0, tzinfo=IST).timestamp())
    # before the Muhurat opens, the market shows Thursday's close: 375 * 60 - 1
    assert (w.day, w.second, w.live) == (date(2024, 10, 31), 22499, False)


def test_live_market_block_of_a_muhurat_minute_is_stamped_in_its_hour():
    market = Market(3, date(2024, 11, 4))
    inst = market.universe.get("NSE", "INFY")
    blk = market.block(inst, date(2024, 11, 1), 59)  # the session's last minute: 18:59
    assert blk.epoch0 == int(datetime(2024, 11, 1, 18, 59, tzinfo=IST).timestamp())
    assert len(market.model.bars(inst, date(2024, 11, 1)).close) == 60
