"""How the emergency stop prices a square-off: MARKET (the engine adds market protection), or a
protected LIMIT for stock options, where Zerodha blocks MARKET orders."""

from __future__ import annotations

import pytest

from mandi.core.errors import PreconditionFailed
from services.execution.emergency import squareoff_terms
from services.execution.instruments import InstrumentInfo


def _inst(name: str, itype: str, exchange: str = "NFO", tick: int = 5) -> InstrumentInfo:
    return InstrumentInfo(exchange=exchange, tradingsymbol=f"{name}26MAR100{itype}",
                          instrument_token=1, name=name, instrument_type=itype,
                          tick_paise=tick, lot_size=1)


def test_stock_option_sell_is_a_limit_five_percent_below_on_the_tick() -> None:
    # ₹123.45 × 0.95 = ₹117.2775 → 11727.75 paise, up (never beyond 5 %) → 11728 → up to the
    # 5-paise tick: 11730
    assert squareoff_terms(_inst("RELIANCE", "CE"), "SELL", 12345) == ("LIMIT", 11730)


def test_stock_option_buy_is_a_limit_five_percent_above_on_the_tick() -> None:
    # ₹123.45 × 1.05 = ₹129.6225 → 12962.25 paise, down (never beyond 5 %) → 12962 → down to
    # the 5-paise tick: 12960
    assert squareoff_terms(_inst("TATASTEEL", "PE", "BFO"), "BUY", 12345) == ("LIMIT", 12960)


def test_stock_option_sell_near_zero_never_prices_below_one_tick() -> None:
    # 5 paise × 0.95 = 4.75 → up to 5 → on the tick: 5 (and never below one tick)
    assert squareoff_terms(_inst("INFY", "CE"), "SELL", 5) == ("LIMIT", 5)


@pytest.mark.parametrize("inst", [_inst("NIFTY", "CE"), _inst("BANKNIFTY", "PE"),
                                  _inst("SENSEX", "CE", "BFO"), _inst("NIFTY", "FUT"),
                                  _inst("RELIANCE", "FUT"), _inst("SBIN", "EQ", "NSE")])
def test_everything_but_stock_options_goes_market(inst: InstrumentInfo) -> None:
    assert squareoff_terms(inst, "SELL", 12345) == ("MARKET", 0)


def test_stock_option_without_a_last_price_is_refused_naming_it() -> None:
    with pytest.raises(PreconditionFailed) as exc:
        squareoff_terms(_inst("RELIANCE", "CE"), "SELL", 0)
    assert exc.value.field == "last_price"
