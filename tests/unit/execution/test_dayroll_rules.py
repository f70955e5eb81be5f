"""The day-boundary rules of the execution service, as pure functions: when a Kite token dies,
which untagged order is the broker's MIS square-off, and what an expiring contract settles at."""

from __future__ import annotations

from datetime import datetime

import pytest

from mandi.core.clock import IST
from mandi.kite.session_store import token_expiry
from services.execution.brokers.base import BrokerOrder
from services.execution.expiry import exercise_stt, settlement, underlying_of
from services.execution.external import is_auto_squareoff


@pytest.mark.parametrize(("issued", "dies"), [
    ((2026, 3, 12, 2, 0), (2026, 3, 12, 6, 0)),    # a night start: the same morning
    ((2026, 3, 12, 5, 59), (2026, 3, 12, 6, 0)),
    ((2026, 3, 12, 6, 0), (2026, 3, 13, 6, 0)),    # issued at 06:00: the next morning
    ((2026, 3, 12, 23, 59), (2026, 3, 13, 6, 0)),
])
def test_token_expiry_is_the_first_0600_ist_after_issue(issued: tuple, dies: tuple) -> None:
    assert token_expiry(datetime(*issued, tzinfo=IST)) == datetime(*dies, tzinfo=IST)


def _bo(**kw: object) -> BrokerOrder:
    base = dict(broker_order_id="1", status="COMPLETE", exchange="NSE", tradingsymbol="SBIN",
                side="SELL", quantity=5, product="MIS", tag="",
                ts=datetime(2026, 3, 10, 15, 20, tzinfo=IST))
    base.update(kw)
    return BrokerOrder(**base)  # type: ignore[arg-type]


def test_auto_squareoff_is_an_untagged_mis_order_at_or_after_the_segment_cutoff() -> None:
    assert is_auto_squareoff(_bo())                                    # equity at 15:20
    assert not is_auto_squareoff(_bo(ts=datetime(2026, 3, 10, 15, 19, tzinfo=IST)))
    assert not is_auto_squareoff(_bo(exchange="NFO",                  # F&O cut-off is 15:25
                                     ts=datetime(2026, 3, 10, 15, 24, tzinfo=IST)))
    assert is_auto_squareoff(_bo(exchange="NFO", ts=datetime(2026, 3, 10, 15, 25, tzinfo=IST)))
    assert not is_auto_squareoff(_bo(tag="mandi1"))                    # Mandi's own order
    assert not is_auto_squareoff(_bo(product="CNC"))
    assert is_auto_squareoff(_bo(ts=None, status_message="Auto square-off: MIS position"))


def test_settlement_of_an_expiring_contract_at_the_underlying_close() -> None:
    ce = {"instrument_type": "CE", "strike": 24000.0, "name": "NIFTY"}
    pe = {"instrument_type": "PE", "strike": 24000.0, "name": "NIFTY"}
    # close ₹24,123.45: the call is worth 24,123.45 − 24,000 = ₹123.45 = 12,345 paise
    assert settlement(ce, 2412345, True) == (12345, "cash")
    assert settlement(pe, 2412345, True) == (0, "worthless")
    assert settlement(pe, 2399000, True) == (1000, "cash")
    assert settlement({"instrument_type": "FUT"}, 2412345, True) == (2412345, "cash")
    assert settlement({"instrument_type": "FUT"}, 151000, False) == (151000, "delivery")
    assert underlying_of(ce, "NFO") == ("NSE", "NIFTY 50", True)
    assert underlying_of({"name": "SENSEX"}, "BFO") == ("BSE", "SENSEX", True)
    assert underlying_of({"name": "RELIANCE"}, "NFO") == ("NSE", "RELIANCE", False)


def test_exercise_stt_is_0125_pct_then_015_pct_from_april_2026() -> None:
    # ₹80,242.50 settlement value: 0.125 % = ₹100.303125 → 10,030 paise (half-up)
    assert exercise_stt(8024250, datetime(2026, 3, 31).date()) == 10030
    # 0.15 % = ₹120.36375 → 12,036 paise
    assert exercise_stt(8024250, datetime(2026, 4, 1).date()) == 12036
