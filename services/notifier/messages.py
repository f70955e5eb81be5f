"""One line of text per notification kind, the same on every channel.

A notification is read on a phone lock screen: the line leads with an emoji that says good or bad,
then what happened, then the ids needed to find it in Mandi. Money arrives in paise and is shown
in rupees with Indian digit grouping (₹1,50,000.00). Missing fields degrade to "?" rather than
failing: a malformed event must still reach the user.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mandi.platform.notify_events import KINDS


def rupees(paise: Any) -> str:
    """₹ with Indian grouping: 150000000 paise → ₹15,00,000.00."""
    try:
        p = int(paise)
    except (TypeError, ValueError):
        return "₹?"
    sign, p = ("-" if p < 0 else ""), abs(p)
    whole, frac = divmod(p, 100)
    digits = str(whole)
    if len(digits) > 3:
        head, tail = digits[:-3], digits[-3:]
        groups = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        if head:
            groups.insert(0, head)
        digits = ",".join(groups) + "," + tail
    return f"{sign}₹{digits}.{frac:02d}"


def _g(d: dict[str, Any], key: str, default: str = "?") -> str:
    value = d.get(key)
    return default if value in (None, "") else str(value)


def _order(d: dict[str, Any]) -> str:
    return f"{_g(d, 'side')} {_g(d, 'quantity')} {_g(d, 'symbol')}"


def _ids(d: dict[str, Any], first: str, label: str) -> str:
    parts = [f"{label} {_g(d, first)}", f"account {_g(d, 'account_id')}"]
    if d.get("bot_id"):
        parts.append(f"bot {d['bot_id']}")
    return "(" + ", ".join(parts) + ")"


def _bot(d: dict[str, Any]) -> str:
    name = d.get("name") or d.get("bot_id") or "?"
    return f"bot {name}"


_RENDER: dict[str, Callable[[dict[str, Any]], str]] = {
    "order_filled": lambda d: f"✅ {_order(d)} filled at {rupees(d.get('average_price_paise'))} "
                              f"{_ids(d, 'order_id', 'order')}",
    "order_rejected": lambda d: f"❌ {_order(d)} rejected: {_g(d, 'reason', 'no reason given')} "
                                f"{_ids(d, 'order_id', 'order')}",
    "gtt_triggered": lambda d: f"🎯 GTT triggered: {_g(d, 'side')} {_g(d, 'quantity')} "
                               f"{_g(d, 'symbol')} ({_g(d, 'leg', 'single')} leg) "
                               f"{_ids(d, 'gtt_id', 'GTT')}",
    "bot_started": lambda d: f"▶️ {_bot(d)} started on account {_g(d, 'account_id')}",
    "bot_stopped": lambda d: f"⏹️ {_bot(d)} stopped on account {_g(d, 'account_id')}"
                             + (f": {d['reason']}" if d.get("reason") else ""),
    "bot_error": lambda d: f"⚠️ {_bot(d)} error on account {_g(d, 'account_id')}: "
                           f"{_g(d, 'error', 'unknown error')}",
    "daily_loss_latch": lambda d: f"🛑 Daily loss limit hit on account {_g(d, 'account_id')}: "
                                  f"loss {rupees(d.get('loss_paise'))} ≥ limit "
                                  f"{rupees(d.get('limit_paise'))}; new entries blocked today"
                                  + ("; squaring off" if d.get("square_off") else ""),
    "emergency_stop": lambda d: f"🚨 Emergency stop on account {_g(d, 'account_id')} by "
                                f"{_g(d, 'actor')}: {_g(d, 'reason', 'no reason given')}",
    "session_expired": lambda d: f"🔑 Broker session expired on account {_g(d, 'account_id')}: "
                                 "log in again to resume trading",
    "fetch_finished": lambda d: f"📥 Data fetch job {_g(d, 'job_id')} finished: "
                                f"{_g(d, 'items')} items"
                                + (f", {d['failed']} failed" if d.get("failed") else ""),
    "fetch_failed": lambda d: f"📛 Data fetch job {_g(d, 'job_id')} failed: "
                              f"{_g(d, 'error', 'no reason given')}",
}
assert set(_RENDER) == set(KINDS), "every notification kind needs a message"


def render(kind: str, data: dict[str, Any]) -> str:
    fn = _RENDER.get(kind)
    if fn is None:
        return f"ℹ️ {kind}: {data}"
    return fn(data)
