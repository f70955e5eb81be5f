"""Pure parts of the execution service: state machine, tags, validation, risk rules, slicing,
trailing, GTT legs, legacy import parsing, broker conversions, credential sealing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from services.execution import risk
from services.execution.accounts import CredentialBox, Credentials, RiskLimits
from services.execution.brokers.kite import gtt_from_kite, order_from_kite, trade_from_kite
from services.execution.gtt import oco_legs, stop_limit_price
from services.execution.instruments import InstrumentInfo, info_from_row
from services.execution.orders import (
    COMPLETE,
    OPEN,
    PARTIALLY_FILLED,
    PENDING,
    OrderSpec,
    fold_broker_status,
    next_status,
    tag_for,
    validate_spec,
)
from services.execution.pnl_import import _records, rows_of
from services.execution.trailing import next_trail

OPEN_TIME = datetime(2026, 3, 10, 10, 0, tzinfo=IST)
SBIN = InstrumentInfo("NSE", "SBIN", 779521, "SBI", "EQ", 5, 1)
NIFTY_FUT = InstrumentInfo("NFO", "NIFTY26MARFUT", 1, "NIFTY", "FUT", 5, 65)


def spec(**kw) -> OrderSpec:
    base = dict(client_order_id="c1", exchange="NSE", tradingsymbol="SBIN", side="BUY",
                quantity=10, order_type="LIMIT", product="CNC", price_paise=81235)
    return OrderSpec(**{**base, **kw})


def test_fold_when_open_with_partial_fill_is_partially_filled() -> None:
    assert fold_broker_status("OPEN", 3, 10) == PARTIALLY_FILLED
    assert fold_broker_status("OPEN", 0, 10) == OPEN
    assert fold_broker_status("VALIDATION PENDING", 0, 10) is None


def test_next_status_when_stale_update_never_moves_back() -> None:
    assert next_status(COMPLETE, OPEN) is None
    assert next_status(PARTIALLY_FILLED, OPEN) is None
    assert next_status(PENDING, COMPLETE) == COMPLETE
    assert next_status(OPEN, OPEN) is None


def test_tag_when_long_or_symbolic_id_is_stable_20_alnum() -> None:
    assert tag_for("abc123") == "abc123"
    t = tag_for("strategy-7/entry:2026-03-10")
    assert t == tag_for("strategy-7/entry:2026-03-10") and len(t) == 20 and t.isalnum()
    assert t != tag_for("strategy-7/entry:2026-03-11")


@pytest.mark.parametrize("kw,field", [
    ({"quantity": 0}, "quantity"), ({"quantity": -1}, "quantity"), ({"side": "X"}, "side"),
    ({"order_type": "MARKET"}, "price"), ({"price_paise": 0}, "price"),
    ({"order_type": "SL", "trigger_price_paise": 0}, "trigger_price"),
    ({"client_order_id": ""}, "client_order_id"),
    ({"stop_loss_paise": 83000, "target_paise": 84000}, "stop_loss"),
    ({"trailing_stop_pct": 2.0}, "trailing_stop_pct"),
])
def test_validate_when_malformed_raises_invalid_input(kw: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_spec(spec(**kw))
    assert exc.value.field == field


def _check(s: OrderSpec, limits: RiskLimits | None = None, inst: InstrumentInfo = SBIN,
           state: risk.AccountState | None = None, ltp: int = 81235,
           now: datetime = OPEN_TIME) -> None:
    risk.check(s, limits or RiskLimits(), inst, state or risk.AccountState(),
               last_price_paise=ltp, now=now)


@pytest.mark.parametrize("s,limits,state,rule", [
    (spec(quantity=11), RiskLimits(max_order_quantity=10), None, "max_order_quantity"),
    (spec(), RiskLimits(max_order_value_paise=1000), None, "max_order_value"),
    (spec(price_paise=90000), RiskLimits(price_collar_pct=5), None, "price_collar"),
    (spec(), RiskLimits(max_open_positions=2), risk.AccountState(open_positions=2),
     "max_open_positions"),
    (spec(), RiskLimits(max_capital_per_position_paise=850_000),
     risk.AccountState(position_qty=1, position_cost_paise=81235, open_positions=1),
     "max_capital_per_position"),
    (spec(), RiskLimits(daily_loss_limit_paise=500_000),
     risk.AccountState(realized_today_paise=-500_000), "daily_loss_limit"),
    (spec(), None, risk.AccountState(trading_blocked=True), "daily_loss_limit"),
    (spec(), None, risk.AccountState(emergency_stop=True), "emergency_stop"),
])
def test_risk_rule_when_breached_rejects_with_rule(s, limits, state, rule) -> None:
    with pytest.raises(risk.RiskRejected) as exc:
        _check(s, limits, state=state)
    assert exc.value.rule == rule


def test_risk_when_blocked_an_exit_is_still_allowed() -> None:
    state = risk.AccountState(trading_blocked=True, position_qty=10, open_positions=1)
    _check(spec(side="SELL"), state=state)


def test_risk_when_outside_session_rejects_regular_allows_amo() -> None:
    night = datetime(2026, 3, 10, 20, 0, tzinfo=IST)
    with pytest.raises(risk.RiskRejected):
        _check(spec(), now=night)
    _check(spec(variety="amo"), now=night)


def test_instrument_when_not_lot_multiple_or_off_tick_invalid() -> None:
    with pytest.raises(InvalidInput):
        risk.check_instrument(spec(quantity=64, exchange="NFO"), NIFTY_FUT)
    with pytest.raises(InvalidInput):
        risk.check_instrument(spec(price_paise=81233), SBIN)
    risk.check_instrument(spec(quantity=130, exchange="NFO"), NIFTY_FUT)


def test_slices_when_above_freeze_are_lot_multiples_summing_to_order() -> None:
    parts = risk.slices(65 * 60, NIFTY_FUT)  # 3900 > freeze 1800
    assert sum(parts) == 3900 and all(p % 65 == 0 and p <= 1800 for p in parts)
    assert risk.slices(100, SBIN) == [100]


def test_trail_when_long_moves_up_by_min_step_only_and_never_down() -> None:
    anchor, new = next_trail(True, 79600, 81200, 83000, 2.0, 5)
    assert (anchor, new) == (83000, 81340)
    anchor, new = next_trail(True, 81340, 83000, 83040, 2.0, 5)
    assert new is None and anchor == 83040
    anchor, new = next_trail(True, 81340, 83040, 80000, 2.0, 5)
    assert new is None and anchor == 83040


def test_trail_when_short_moves_down_only() -> None:
    anchor, new = next_trail(False, 85000, 82000, 80000, 2.0, 5)
    assert anchor == 80000 and new == 81600
    assert next_trail(False, 81600, 80000, 81000, 2.0, 5)[1] is None


def test_oco_when_long_orders_legs_lower_stop_then_target() -> None:
    legs = oco_legs("BUY", 10, 80000, 84000, 5)
    assert [(g["role"], g["side"]) for g in legs] == [("sl", "SELL"), ("tp", "SELL")]
    legs = oco_legs("SELL", 10, 84000, 80000, 5)
    assert [g["role"] for g in legs] == ["tp", "sl"] and legs[1]["price_paise"] == 84840
    assert stop_limit_price(80000, "SELL", 5) == 79200


def test_pnl_import_when_positions_do_not_add_up_keeps_the_remainder() -> None:
    rec = {"date": "2024-05-02", "pnl": 1500.25, "positions": [
        {"tradingsymbol": "sbin", "exchange": "NSE", "average_price": 800, "last_price": 810,
         "quantity": 0, "pnl": 1000.25}]}
    rows = rows_of(rec)
    assert [(r["tradingsymbol"], r["pnl"]) for r in rows] == [("SBIN", 100025),
                                                              ("(unattributed)", 50000)]
    assert rows_of(rec)[0]["key"] == rows[0]["key"]


def test_pnl_import_when_csv_rows_per_position_groups_by_day() -> None:
    data = (b"date,tradingsymbol,exchange,average_price,last_price,quantity,pnl\n"
            b"2024-05-02,SBIN,NSE,800,810,10,100\n2024-05-02,INFY,NSE,1500,1490,5,-50\n"
            b"2024-05-03,SBIN,NSE,810,805,10,-50\n")
    recs = _records(data, "csv")
    assert [(r["date"], len(r["positions"])) for r in recs] == [("2024-05-02", 2),
                                                                ("2024-05-03", 1)]


def test_kite_conversion_when_order_trade_gtt_payloads_map_to_paise() -> None:
    o = order_from_kite({"order_id": "1", "status": "COMPLETE", "price": 812.35,
                         "average_price": 812.3, "filled_quantity": 3, "quantity": 3,
                         "tag": "abc", "transaction_type": "BUY",
                         "order_timestamp": datetime(2025, 11, 20, 10, 0, 1)})
    assert (o.price_paise, o.average_price_paise, o.tag) == (81235, 81230, "abc")
    assert o.ts.utcoffset().total_seconds() == 19800
    t = trade_from_kite({"trade_id": "9", "order_id": "1", "average_price": 799.45,
                         "quantity": 3, "transaction_type": "SELL"})
    assert t.price_paise == 79945
    g = gtt_from_kite({"id": 5, "type": "two-leg", "status": "triggered",
                       "condition": {"exchange": "NSE", "tradingsymbol": "SBIN",
                                     "trigger_values": [800.0, 840.0]},
                       "orders": [{"transaction_type": "SELL", "quantity": 3, "price": 792.0,
                                   "result": {"order_result": {"order_id": "77"}}},
                                  {"transaction_type": "SELL", "quantity": 3, "price": 840.0,
                                   "result": None}]})
    assert g.triggered_order_ids == ("77", "") and g.legs[0].trigger_price_paise == 80000


def test_credentials_when_sealed_round_trip_and_never_in_repr() -> None:
    box = CredentialBox("k")
    creds = Credentials(api_key="key", api_secret="s3cr3t", access_token="tok123")
    assert box.open(box.seal(creds)) == creds
    assert "s3cr3t" not in repr(creds) and "tok123" not in repr(creds)
    assert b"tok123" not in box.seal(creds)


def test_instrument_row_when_index_segment_is_index_type() -> None:
    info = info_from_row({"exchange": "NSE", "tradingsymbol": "NIFTY 50", "segment": "INDICES",
                          "instrument_type": "EQ", "tick_size": 0.0, "lot_size": 0})
    assert info.instrument_type == "INDEX" and info.lot_size == 1


def test_limits_when_non_positive_invalid() -> None:
    with pytest.raises(InvalidInput):
        replace(RiskLimits(), max_open_positions=0).validate()
