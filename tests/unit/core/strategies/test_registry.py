"""Strategy definitions: types by name, typed and bounded parameters, errors naming the field."""

import numpy as np
import pytest

from mandi.core.backtest.data import random_walk_bars
from mandi.core.errors import InvalidInput
from mandi.core.strategies import registry
from mandi.core.strategies.base import BarView, Context


@pytest.mark.parametrize(("definition", "field"), [
    ({"type": "martingale"}, "type"),
    ({"params": {}}, "type"),
    ({"type": "ema_crossover", "params": {"fast": 30, "slow": 10}}, "fast"),
    ({"type": "ema_crossover", "params": {"fast": 20, "slow": 20}}, "fast"),
    ({"type": "ema_crossover", "params": {"fast": "ten"}}, "fast"),
    ({"type": "ema_crossover", "params": {"fast": 0}}, "fast"),
    ({"type": "ema_crossover", "params": {"slow": 10**6}}, "slow"),
    ({"type": "ema_crossover", "params": {"speed": 3}}, "speed"),
    ({"type": "ema_crossover", "params": {"allow_short": "yes"}}, "allow_short"),
    ({"type": "macd_cross", "params": {"fast": 26, "slow": 12}}, "fast"),
    ({"type": "rsi", "params": {"oversold": 80, "overbought": 70}}, "oversold"),
    ({"type": "bollinger_reversion", "params": {"k": float("nan")}}, "k"),
    ({"type": "momentum_ladder", "params": {"entry": "moon"}}, "entry"),
    ({"type": "rules", "params": {}}, "rules"),
    ({"type": "ema_crossover", "colour": 1}, "colour"),
    ("ema_crossover", "definition"),
])
def test_validate_when_definition_bad_raises_invalid_input_naming_field(definition, field):
    with pytest.raises(InvalidInput) as e:
        registry.validate(definition)
    assert e.value.field == field


def test_create_when_params_valid_applies_defaults_and_coerces():
    s = registry.create("ema_crossover", {"fast": 5, "slow": 21.0})
    assert s.params == {"fast": 5, "slow": 21, "allow_short": False, "stop_loss_pct": 0.0,
                        "take_profit_pct": 0.0}
    assert isinstance(s.params["slow"], int)


def test_catalogue_when_listed_describes_every_type_with_bounds():
    cat = {c["type"]: c for c in registry.catalogue()}
    assert set(cat) == {"ema_crossover", "rsi", "macd_cross", "bollinger_reversion", "rules",
                        "momentum_ladder"}
    fast = next(p for p in cat["ema_crossover"]["params"] if p["name"] == "fast")
    assert (fast["type"], fast["min"], fast["max"], fast["default"]) == ("int", 1, 1000, 10)


@pytest.mark.parametrize("type_name", ["ema_crossover", "rsi", "macd_cross",
                                       "bollinger_reversion"])
def test_signal_strategy_when_streamed_bar_by_bar_equals_its_vectorised_signals(type_name):
    """The live form (streaming step) and the backtest form (signals) agree on every bar."""
    bars = random_walk_bars(3_000, seed=9)
    s = registry.create(type_name)
    s.on_start("X")
    view = BarView("X", *(c.tolist() for c in (bars.ts, bars.open, bars.high, bars.low,
                                                 bars.close, bars.volume)))
    got = []
    for i in range(len(bars)):
        view.index = i
        got.append(s.step(view))
    sig = s.signals(bars)
    entries, exits = np.array(got, dtype=bool).T
    assert entries.sum() > 3
    np.testing.assert_array_equal(entries, sig.entries)
    np.testing.assert_array_equal(exits, sig.exits)


def test_context_when_intents_emitted_records_them_in_order():
    ctx = Context("X")
    ctx.enter("BUY", "a", qty=3)
    ctx.exit("a")
    assert [type(i).__name__ for i in ctx.intents] == ["Enter", "Exit"]
