"""Zerodha's GTT trigger rule, shared by execution (which enforces it before Kite does) and the
bot runner (which knows before asking whether a trailing stop can be a GTT yet).

Every trigger must sit at least 0.25 % away from the last price, or 9 paise when it is below
₹50 (review domain.md §3.13, [K3] [K4]). The simulator keeps its own copy on purpose: it plays
Kite, not Mandi.
"""

from __future__ import annotations

TRIGGER_GAP_BPS = 25
LOW_PRICE_PAISE = 5_000
LOW_PRICE_GAP_PAISE = 9


def min_trigger_gap(last_price_paise: int) -> int:
    """The smallest distance (paise) a trigger may sit from the last price."""
    if last_price_paise < LOW_PRICE_PAISE:
        return LOW_PRICE_GAP_PAISE
    return -(-last_price_paise * TRIGGER_GAP_BPS // 10_000)


def trigger_too_close(trigger_paise: int, last_price_paise: int) -> bool:
    """Whether Kite would refuse this trigger at this last price (no price: not known)."""
    return last_price_paise > 0 and abs(trigger_paise - last_price_paise) < min_trigger_gap(
        last_price_paise)


def nearest_stop(last_price_paise: int, long: bool, tick_paise: int) -> int:
    """The stop trigger nearest the last price that Kite accepts, one tick further for a last
    price that moves a tick meanwhile: below the price for a long's stop, above for a short's."""
    gap = min_trigger_gap(last_price_paise)
    if long:
        return ((last_price_paise - gap) // tick_paise - 1) * tick_paise
    return (-(-(last_price_paise + gap) // tick_paise) + 1) * tick_paise
