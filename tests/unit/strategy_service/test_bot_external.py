"""External signals' pure parts: the checks naming the field, the client_order_id derived from
(bot, signal id), the body fingerprint that tells a reused id, and what an order row says about
its signal's outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mandi.core.errors import InvalidInput
from mandi.platform.protoconv import to_timestamp
from mandi.v1 import common_pb2, strategy_pb2
from services.strategy.bot_external import body_hash, checked, signal_client_order_id
from services.strategy.bot_logs import level_at_least
from services.strategy.bot_signals import key_hash, new_key, outcome_of
from services.strategy.bot_store import BotOrderRow, BotRow

NOW = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)
SPEC = strategy_pb2.BacktestSpec(
    strategy=strategy_pb2.StrategyDef(type="external"), capital_paise=10**8,
    symbols=[common_pb2.SymbolRef(exchange=common_pb2.EXCHANGE_NSE, tradingsymbol="SBIN")])
ROW = BotRow(id="b0123456789abcde", owner="u", name="x", spec=SPEC.SerializeToString(),
             account_id="A", mode="paper", product="MIS")


def req(**kw) -> strategy_pb2.PostSignalRequest:
    base = dict(deployment_id=ROW.id, key="k", id="s-1", symbol="NSE:SBIN", side="BUY",
                quantity=3)
    base.update(kw)
    ts = base.pop("ts", NOW)
    r = strategy_pb2.PostSignalRequest(**base)
    if ts is not None:
        r.ts.CopyFrom(to_timestamp(ts))
    return r


def test_checked_when_valid_normalises_the_symbol_and_keeps_the_time():
    assert checked(req(symbol=" nse:sbin "), ROW, SPEC, NOW) == ("NSE:SBIN", None, NOW)
    _, w, _ = checked(req(quantity=None, target_weight="0.25"), ROW, SPEC, NOW)
    assert str(w) == "0.25"


@pytest.mark.parametrize(("kw", "field"), [
    ({"id": ""}, "id"), ({"id": "a b"}, "id"), ({"id": "x" * 65}, "id"),
    ({"symbol": "NSE:INFY"}, "symbol"), ({"side": "buy"}, "side"),
    ({"quantity": None}, "quantity"), ({"target_weight": "0.1"}, "quantity"),
    ({"quantity": 0}, "quantity"), ({"quantity": -2}, "quantity"),
    ({"quantity": None, "target_weight": "1.01"}, "target_weight"),
    ({"quantity": None, "target_weight": "NaN"}, "target_weight"),
    ({"quantity": None, "target_weight": "abc"}, "target_weight"),
    ({"ts": None}, "ts"), ({"ts": NOW - timedelta(minutes=3)}, "ts"),
    ({"ts": NOW + timedelta(minutes=1)}, "ts"),
])
def test_checked_when_bad_names_the_field(kw, field):
    with pytest.raises(InvalidInput) as err:
        checked(req(**kw), ROW, SPEC, NOW)
    assert err.value.field == field


def test_client_order_id_is_deterministic_and_fits_executions_64():
    assert signal_client_order_id(ROW.id, "s-1") == f"{ROW.id}:s:s-1"
    long = signal_client_order_id(ROW.id, "y" * 64)
    assert len(long) == 64 and long == signal_client_order_id(ROW.id, "y" * 64)
    assert long != signal_client_order_id(ROW.id, "y" * 63 + "z")


def test_body_hash_tells_another_signal_under_the_same_id():
    a = req()
    assert body_hash("NSE:SBIN", a) == body_hash("NSE:SBIN", req())
    assert body_hash("NSE:SBIN", a) != body_hash("NSE:SBIN", req(quantity=4))
    assert body_hash("NSE:SBIN", a) != body_hash("NSE:SBIN", req(ts=NOW + timedelta(seconds=1)))


def test_keys_are_random_and_only_their_hash_is_kept():
    k1, k2 = new_key(), new_key()
    assert k1 != k2 and k1.startswith("mbk_") and len(k1) > 40
    assert key_hash(k1) != k1 and len(key_hash(k1)) == 64


@pytest.mark.parametrize(("order_id", "status", "outcome"), [
    ("o1", "ORDER_STATUS_COMPLETE", ("order", "")),
    ("o3", "ORDER_STATUS_OPEN", ("order", "")),
    ("", "REFUSED: RESOURCE_EXHAUSTED: too fast", ("refused", "RESOURCE_EXHAUSTED: too fast")),
    ("o2", "ORDER_STATUS_REJECTED: margin: short by 10", ("rejected", "margin: short by 10")),
    ("", "", ("refused", "not acknowledged")),
])
def test_outcome_of_an_order_row(order_id, status, outcome):
    row = BotOrderRow("c", NOW, "NSE:SBIN", "BUY", 1, "t", "external", order_id, status)
    assert outcome_of(row) == outcome


def test_level_at_least():
    assert level_at_least("") == ["debug", "info", "warning", "error"]
    assert level_at_least("WARNING") == ["warning", "error"]
    with pytest.raises(InvalidInput):
        level_at_least("fatal")
