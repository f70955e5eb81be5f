"""Rule builder: validation names fields, import/export round-trips, evaluation semantics."""

import json

import pytest

from mandi.core.backtest.data import random_walk_bars
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.errors import InvalidInput
from mandi.core.strategies.ema_crossover import EmaCrossover
from mandi.core.strategies.rules import RuleSet, RuleStrategy, export_rules, import_rules

EMA_CROSS = {"rules": [
    {"id": "in", "action": "buy",
     "when": {"left": {"indicator": "ema", "params": {"period": 10}}, "op": "crosses_above",
              "right": {"indicator": "ema", "params": {"period": 30}}}},
    {"id": "out", "action": "exit",
     "when": {"left": {"indicator": "ema", "params": {"period": 10}}, "op": "crosses_below",
              "right": {"indicator": "ema", "params": {"period": 30}}}},
]}


def test_rules_when_expressing_ema_crossover_trade_like_the_builtin():
    bars = random_walk_bars(5_000, seed=2)
    cfg = BacktestConfig(segment="equity_delivery")
    ruled = run_backtest(bars, RuleStrategy(rules=EMA_CROSS), cfg)
    builtin = run_backtest(bars, EmaCrossover(fast=10, slow=30), cfg)
    assert len(builtin.trades) > 20
    assert [(t.entry_ts, t.exit_ts, t.entry_price_paise, t.exit_price_paise)
            for t in ruled.trades] == \
        [(t.entry_ts, t.exit_ts, t.entry_price_paise, t.exit_price_paise) for t in builtin.trades]


def cond(left, op, right):
    return {"left": left, "op": op, "right": right}


class FakeBar:
    def __init__(self, close, ts=0):
        self.open = self.high = self.low = self.close = close
        self.volume, self.ts = 100, ts


def test_rules_when_several_fire_highest_priority_wins_and_disabled_never_fires():
    doc = {"rules": [
        {"id": "low", "action": "buy", "priority": 1,
         "when": cond({"price": "close"}, ">", {"value": 10})},
        {"id": "high", "action": "sell", "priority": 5,
         "when": cond({"price": "close"}, ">", {"value": 10})},
        {"id": "off", "action": "buy", "priority": 99, "enabled": False,
         "when": cond({"price": "close"}, ">", {"value": 0})},
    ]}
    rs = RuleSet(doc)
    rs.update(FakeBar(11.0))
    assert rs.decide(0) == ("high", "sell")
    assert rs.decide(-5) == ("low", "buy")  # sell does not apply when already short


def test_rules_when_grouped_all_and_any_combine_as_and_or():
    c = {"all": [cond({"price": "close"}, ">", {"value": 10}),
                 {"any": [cond({"price": "close"}, "<", {"value": 12}),
                          cond({"price": "volume"}, ">", {"value": 1000})]}]}
    rs = RuleSet({"rules": [{"id": "r", "action": "buy", "when": c}]})
    outcomes = []
    for px in (9.0, 11.0, 13.0):
        rs.update(FakeBar(px))
        outcomes.append(rs.decide(0))
    assert outcomes == [None, ("r", "buy"), None]


def test_rules_when_price_crosses_constant_fires_once():
    rs = RuleSet({"rules": [{"id": "x", "action": "buy",
                             "when": cond({"price": "close"}, "crosses_above", {"value": 10})}]})
    fired = []
    for px in (9.0, 10.0, 11.0, 12.0):
        rs.update(FakeBar(px))
        fired.append(rs.decide(0) is not None)
    assert fired == [False, False, True, False]


def test_export_when_imported_back_round_trips_with_defaults_filled():
    text = export_rules(EMA_CROSS)
    doc = json.loads(text)
    assert doc["rules"][0]["priority"] == 0 and doc["rules"][0]["enabled"] is True
    assert doc["rules"][0]["when"]["left"] == {"indicator": "ema", "params": {"period": 10},
                                              "output": "value", "source": "close"}
    assert export_rules(import_rules(text)) == text


@pytest.mark.parametrize(("doc", "field"), [
    ('{"rules": [', "rules"),
    ({"rules": []}, "rules"),
    ({"rules": [{"id": "a", "when": cond({"value": 1}, ">", {"value": 0})}]}, "rules[0].action"),
    ({"rules": [{"id": "a", "action": "hold", "when": cond({"value": 1}, ">", {"value": 0})}]},
     "rules[0].action"),
    ({"rules": [{"id": "a", "action": "buy", "when": cond({"value": 1}, ">=", {"value": 0})}]},
     "rules[0].when.op"),
    ({"rules": [{"id": "a", "action": "buy",
                 "when": {"all": [cond({"value": 1}, ">", {"value": 0}),
                                  cond({"indicator": "ema", "params": {"period": 0}}, ">",
                                       {"value": 0})]}}]},
     "rules[0].when.all[1].left.params.period"),
    ({"rules": [{"id": "a", "action": "buy",
                 "when": cond({"indicator": "ichimoku"}, ">", {"value": 0})}]},
     "rules[0].when.left.indicator"),
    ({"rules": [{"id": "a", "action": "buy",
                 "when": cond({"indicator": "macd", "output": "histogram"}, ">", {"value": 0})}]},
     "rules[0].when.left.output"),
    ({"rules": [{"id": "a", "action": "buy",
                 "when": cond({"indicator": "macd", "params": {"fast": 30, "slow": 10}}, ">",
                              {"value": 0})}]},
     "rules[0].when.left.params.fast"),
    ({"rules": [{"id": "a", "action": "buy", "when": {"any": []}}]}, "rules[0].when.any"),
    ({"rules": [{"id": "a", "action": "buy", "when": cond({"value": 1}, ">", {"value": 0})},
                {"id": "a", "action": "exit", "when": cond({"value": 1}, ">", {"value": 0})}]},
     "rules[1].id"),
    ({"rules": [{"id": "a", "action": "buy", "priority": "high",
                 "when": cond({"value": 1}, ">", {"value": 0})}]}, "rules[0].priority"),
    ({"rules": [{"id": "a", "action": "buy", "colour": "red",
                 "when": cond({"value": 1}, ">", {"value": 0})}]}, "rules[0].colour"),
])
def test_rules_when_malformed_raise_invalid_input_naming_the_field(doc, field):
    with pytest.raises(InvalidInput) as e:
        RuleStrategy(rules=doc)
    assert e.value.field == field
