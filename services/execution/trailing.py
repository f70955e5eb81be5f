"""Trailing stops: move only in the position's favour, and only by at least a minimum step so a
jittery price does not flood the broker with GTT modifications."""

from __future__ import annotations

from mandi.core.fills import pct_level

MIN_STEP_BPS = 10  # 0.1 % of the price, and never less than one tick


def min_step(price_paise: int, tick_paise: int) -> int:
    return max(tick_paise, price_paise * MIN_STEP_BPS // 10_000 // tick_paise * tick_paise)


def next_trail(long: bool, current_stop: int, anchor: int, ltp: int, pct: float,
               tick_paise: int) -> tuple[int, int | None]:
    """(new anchor, new stop or None when the stop should stay).

    The anchor is the best price since entry (highest for a long, lowest for a short); the stop
    sits `pct` % behind it, rounded to the tick, and only ever tightens.
    """
    if ltp <= 0 or pct <= 0:
        return anchor, None
    if long:
        anchor = max(anchor, ltp)
        candidate = pct_level(anchor, pct, up=False, tick_paise=tick_paise)
        if candidate - current_stop >= min_step(anchor, tick_paise) and candidate < ltp:
            return anchor, candidate
        return anchor, None
    anchor = min(anchor, ltp) if anchor > 0 else ltp
    candidate = pct_level(anchor, pct, up=True, tick_paise=tick_paise)
    if current_stop - candidate >= min_step(anchor, tick_paise) and candidate > ltp:
        return anchor, candidate
    return anchor, None
