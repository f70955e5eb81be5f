"""Bars container: validation naming fields, paise conversion, deterministic synthetic data."""

import numpy as np
import pytest

from mandi.core.backtest.data import Bars, price_paise, random_walk_bars
from mandi.core.errors import InvalidInput


def test_bars_when_timestamps_not_increasing_names_ts():
    with pytest.raises(InvalidInput) as e:
        Bars(np.array([2, 1]), np.ones(2), np.ones(2), np.ones(2), np.ones(2), np.ones(2))
    assert e.value.field == "ts"


def test_bars_when_column_length_differs_names_that_column():
    with pytest.raises(InvalidInput) as e:
        Bars(np.array([1, 2]), np.ones(2), np.ones(3), np.ones(2), np.ones(2), np.ones(2))
    assert e.value.field == "high"


def test_price_paise_when_tick_prices_converts_exactly():
    assert price_paise(np.array([812.35, 0.05, 1234.5, 99.95])).tolist() == [81235, 5, 123450,
                                                                             9995]


def test_random_walk_when_same_seed_is_identical_and_on_tick():
    a, b = random_walk_bars(1_000, seed=3), random_walk_bars(1_000, seed=3)
    assert np.array_equal(a.close, b.close) and np.array_equal(a.ts, b.ts)
    assert (price_paise(a.close) % 5 == 0).all()
    assert (a.high >= np.maximum(a.open, a.close)).all()
    assert (a.low <= np.minimum(a.open, a.close)).all()
