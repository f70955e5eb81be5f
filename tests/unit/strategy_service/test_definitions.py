"""Definitions and run configuration: field-named errors, import/export, and the adapters the
service puts around the library (targets from the sandbox, progress and cancellation)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mandi.core.backtest.data import random_walk_bars
from mandi.core.errors import InvalidInput, PermissionDenied
from mandi.v1 import common_pb2, strategy_pb2
from services.strategy import definitions, library
from services.strategy.store import StrategyRecord


def rec(type_: str = "ema_crossover", **params) -> StrategyRecord:
    return StrategyRecord(id="", owner="asha", name="n", type=type_, params=params)


@pytest.mark.parametrize(("record", "field"), [
    (rec("nope"), "type"),
    (rec(fast=30, slow=10), "params.fast"),
    (rec(fast="ten"), "params.fast"),
    (rec(fsat=3), "params.fsat"),
    (rec("rsi", period=1), "params.period"),
    (rec("macd", fast=30, slow=20), "params.fast"),
    (StrategyRecord(id="", owner="a", name="r", type="rules", rules={"rules": []}), "rules"),
])
async def test_field_errors_when_definition_invalid_names_the_field(record, field):
    errors = await definitions.field_errors(record, admin=False)
    assert [f for f, _ in errors] == [field]


async def test_field_errors_when_valid_coerces_struct_doubles_to_ints():
    r = rec(fast=5.0, slow=20.0)
    assert await definitions.field_errors(r, admin=False) == []
    assert r.params["fast"] == 5 and isinstance(r.params["fast"], int)
    assert r.params["allow_short"] is False  # defaults filled in


async def test_check_when_custom_code_from_non_admin_is_permission_denied():
    r = StrategyRecord(id="", owner="a", name="c", type="custom", code="class Strategy: ...")
    with pytest.raises(PermissionDenied):
        await definitions.check(r, admin=False)


def test_import_json_when_export_round_trips_keeps_definition():
    r = StrategyRecord(id="x", owner="a", name="swing", type="rsi", params={"period": 9})
    back = definitions.import_json(definitions.export_json(r), "b")
    assert (back.name, back.type, back.params, back.owner) == ("swing", "rsi", {"period": 9}, "b")


@pytest.mark.parametrize(("text", "field"), [
    ('{"type": "rsi",', "json"),
    ("[1, 2]", "json"),
    ('{"type": "rsi", "colour": "red"}', "colour"),
    ('{"type": "rsi", "params": [1]}', "params"),
    ('{"format": "other/v9", "type": "rsi"}', "format"),
])
def test_import_json_when_document_malformed_names_field(text, field):
    with pytest.raises(InvalidInput) as err:
        definitions.import_json(text, "a")
    assert err.value.field == field


def test_proto_round_trip_when_rules_present_keeps_integers():
    r = StrategyRecord(id="i", owner="a", name="r", type="rules",
                       rules={"rules": [{"id": "x", "priority": 10}]}, params={"qty": 5})
    back = definitions.from_proto(definitions.to_proto(r))
    assert back.rules == r.rules and back.params == {"qty": 5}
    assert isinstance(back.rules["rules"][0]["priority"], int)


def spec(product=strategy_pb2.PRODUCT_MIS, exchange=common_pb2.EXCHANGE_NSE, symbol="INFY"):
    s = strategy_pb2.BacktestSpec(
        symbols=[common_pb2.SymbolRef(exchange=exchange, tradingsymbol=symbol)],
        capital_paise=10**8, sizing=strategy_pb2.Sizing(type="fixed_qty", qty=1),
        costs=strategy_pb2.Costs(product=product))
    getattr(s, "from").FromSeconds(1_735_689_600)  # 2025-01-01
    return s


@pytest.mark.parametrize(("s", "segment"), [
    (spec(), "equity_intraday"),
    (spec(strategy_pb2.PRODUCT_CNC), "equity_delivery"),
    (spec(strategy_pb2.PRODUCT_NRML, common_pb2.EXCHANGE_NFO, "NIFTY25JANFUT"), "futures"),
    (spec(strategy_pb2.PRODUCT_NRML, common_pb2.EXCHANGE_NFO, "NIFTY25JAN24000CE"), "options"),
])
def test_config_of_when_product_and_exchange_given_picks_charges_segment(s, segment):
    assert library.config_of(s).segment == segment


@pytest.mark.parametrize(("s", "field"), [
    (spec(strategy_pb2.PRODUCT_NRML), "costs.product"),
    (spec(strategy_pb2.PRODUCT_CNC, common_pb2.EXCHANGE_NFO, "NIFTY25JANFUT"), "costs.product"),
])
def test_config_of_when_product_does_not_fit_exchange_is_invalid(s, field):
    with pytest.raises(InvalidInput) as err:
        library.config_of(s)
    assert err.value.field == field


def test_config_of_when_range_predates_charge_table_names_from():
    s = spec()
    getattr(s, "from").FromSeconds(1_546_300_800)  # 2019-01-01, before the first revision
    with pytest.raises(InvalidInput) as err:
        library.config_of(s)
    assert err.value.field == "from" and "disable_charges" in err.value.message
    s.costs.disable_charges = True
    assert library.config_of(s).charges is False


def test_target_strategy_when_targets_flip_trades_each_change():
    bars = random_walk_bars(600, symbol="NSE:X")
    targets = np.zeros(600, dtype=np.int8)
    targets[100:200] = 1
    targets[300:400] = -1
    # a product that can carry a short: under CNC the short entry is refused (review 5.11)
    s = spec(strategy_pb2.PRODUCT_NRML, common_pb2.EXCHANGE_NFO, "NIFTY25JANFUT")
    result = library.run({"NSE:X": bars}, lambda _: library.TargetStrategy(targets),
                         library.config_of(s), lambda n: None)
    assert [(t.side, t.exit_reason) for t in result.trades] == [("long", "signal"),
                                                                 ("short", "signal")]
    assert result.trades[0].entry_ts == bars.ts[101]  # next-open fill after bar 100


def test_run_when_tick_raises_aborts_the_engine():
    bars = random_walk_bars(10_000, symbol="NSE:X")

    class Stop(Exception):
        pass

    seen = []

    def tick(n: int) -> None:
        seen.append(n)
        raise Stop

    with pytest.raises(Stop):
        library.run({"NSE:X": bars}, lambda _: library.build("ema_crossover", {}, None),
                    library.config_of(spec()), tick)
    assert seen == [library.PROGRESS_EVERY_BARS]


def test_metrics_when_run_finishes_match_proto_fields():
    bars = random_walk_bars(3_000, symbol="NSE:X")
    result = library.run({"NSE:X": bars}, lambda _: library.build("ema_crossover", {}, None),
                         library.config_of(spec()), lambda n: None)
    m = library.metrics(result)
    assert set(m) == {f.name for f in strategy_pb2.Metrics.DESCRIPTOR.fields}
    strategy_pb2.Metrics(**m)  # every value has the proto's type
    assert m["trades"] == len(result.trades)
    assert json.dumps({k: v for k, v in m.items() if k != "profit_factor"})
