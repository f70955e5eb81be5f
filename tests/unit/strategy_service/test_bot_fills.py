"""Which trigger of a GTT is the stop and which the target, as the bot reads execution's GTTs
(legs in trigger order: a long's stop is the lower, a short's the upper)."""

from __future__ import annotations

import pytest

from mandi.v1 import execution_pb2 as S
from services.strategy.bot_fills import trigger_of


def _gtt(side: int, *triggers: int) -> S.Gtt:
    return S.Gtt(legs=[S.GttLeg(trigger_price_paise=t, side=side, quantity=1, price_paise=t)
                       for t in triggers])


@pytest.mark.parametrize(("gtt", "sl", "tp"), [
    (_gtt(S.SIDE_SELL, 9_900, 10_200), 9_900, 10_200),   # a long's exit sells
    (_gtt(S.SIDE_BUY, 9_800, 10_100), 10_100, 9_800),    # a short's exit buys
    (_gtt(S.SIDE_SELL, 9_900), 9_900, 9_900),            # a single stop
])
def test_trigger_of_reads_the_stop_and_target_legs(gtt, sl, tp) -> None:
    assert (trigger_of(gtt, "sl"), trigger_of(gtt, "tp")) == (sl, tp)
