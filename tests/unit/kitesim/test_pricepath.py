from datetime import date

import numpy as np
import pytest

from services.kitesim.market import Market, minute_batch
from services.kitesim.pricepath import batch_seconds

DAY = date(2025, 11, 20)


@pytest.fixture(scope="module")
def market():
    return Market(5, DAY)


def test_same_seed_same_prices_other_seed_different(market):
    other = Market(5, DAY)
    third = Market(6, DAY)
    inst = market.universe.get("NSE", "RELIANCE")
    a, b = market.model.bars(inst, DAY), other.model.bars(inst, DAY)
    assert np.array_equal(a.close, b.close) and np.array_equal(a.volume, b.volume)
    assert not np.array_equal(a.close, third.model.bars(inst, DAY).close)


def test_any_minute_slice_equals_the_full_day(market):
    for inst in market.universe.instruments[::97]:
        full = market.model.seconds(inst, DAY)
        for m in (0, 100, 374):
            part = market.model.seconds(inst, DAY, m, m + 1)
            assert np.array_equal(part.price[0], full.price[m])
            assert np.array_equal(part.qty[0], full.qty[m])
            assert np.array_equal(part.oi[0], full.oi[m])


def test_batch_equals_one_instrument_path(market):
    insts = market.universe.instruments[::13]
    batch = batch_seconds(market.model, insts, DAY, 200, 201)
    for j, inst in enumerate(insts):
        one = market.model.seconds(inst, DAY, 200, 201)
        assert np.array_equal(one.price, batch.price[j])
        assert np.array_equal(one.qty, batch.qty[j]) and np.array_equal(one.oi, batch.oi[j])


def test_streamed_minute_batches_equal_fresh_blocks(market):
    insts = market.universe.instruments[::29]
    a = minute_batch(market, insts, DAY, 120, None)
    b = minute_batch(market, insts, DAY, 121, a)
    for j, inst in enumerate(insts):
        blk = market.block(inst, DAY, 121)
        assert np.array_equal(blk.volume, b.volume[j]) and np.array_equal(blk.high, b.high[j])
        assert blk.prev_close == b.prev_close[j] and blk.pv_end == b.pv_end[j]


def test_prices_sit_on_the_tick_and_options_track_the_underlying(market):
    u = market.universe
    for inst in u.instruments[::50]:
        assert (market.model.bars(inst, DAY).close % inst.tick == 0).all()
    calls = sorted((i for i in u.instruments if i.name == "NIFTY" and i.instrument_type == "CE"
                    and i.expiry == min(j.expiry for j in u.instruments if j.name == "NIFTY"
                                        and j.kind == "OPT")), key=lambda i: i.strike)
    closes = [int(market.model.bars(c, DAY).close[-1]) for c in calls]
    assert closes == sorted(closes, reverse=True)  # deeper ITM calls cost more
    spot = int(market.model.bars(u.get("NSE", "NIFTY 50"), DAY).close[-1])
    itm = calls[0]
    assert closes[0] >= spot - itm.strike - 500  # ~ intrinsic value


def test_a_year_of_minute_bars_covers_every_session_minute():
    market = Market(9, DAY)
    inst = market.universe.get("NSE", "TCS")
    days = [d for d in market.model.days if date(2024, 11, 20) <= d <= DAY]
    total = sum(len(market.model.bars(inst, d).close) for d in days)
    # every session is 375 minutes except the 2025-10-21 Muhurat hour (13:45-14:45): 60
    assert date(2025, 10, 21) in days and date(2025, 2, 1) in days  # Budget Saturday: 375
    assert total == 375 * (len(days) - 1) + 60 and total > 90_000  # speed: bench/, not here
