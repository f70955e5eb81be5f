"""The execution service's domain metrics, in the default Prometheus registry so the service's
`/metrics` endpoint (mandi.platform.telemetry) serves them beside the RPC RED metrics.

Quotes come from the marketdata service's tick stream; a REST quote from Kite is the fallback,
and Kite allows one quote call a second per API key. A steady rate of fallbacks means
marketdata is down, or instruments are not ticking — the reason label says which.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date

from prometheus_client import Counter, Gauge

# prometheus_client appends `_total` to counter names on export.
QUOTES_STREAMED = Counter(
    "mandi_execution_quotes_streamed",
    "Quotes answered from marketdata's tick stream.",
)
QUOTE_FALLBACKS = Counter(
    "mandi_execution_quote_fallbacks",
    "Quotes answered by Kite's REST quote API instead of marketdata's ticks, by reason "
    "(down: marketdata unreachable or its stream broken; stale: no tick for a few seconds; "
    "unknown: marketdata does not know or refused the instrument).",
    ["reason"],
)
POSTBACKS = Counter(
    "mandi_execution_postbacks",
    "Kite order postbacks received (relayed by marketdata, or on execution's own socket "
    "where it keeps one), by outcome (applied, bad_checksum, malformed).",
    ["outcome"],
)

# --- orders, risk and the day's P&L ----------------------------------------------------------
# Label sets stay bounded: `rule` is a risk rule's (or a validation field's) name from the code,
# `status` one of the seven order states, `account` an account id (a handful per deployment).
ORDERS = Counter(
    "mandi_execution_orders",
    "Order status changes: a new order counts once as PENDING, each forward transition once "
    "under the status it moves to (OPEN, TRIGGER_PENDING, PARTIALLY_FILLED, COMPLETE, "
    "CANCELLED, REJECTED).",
    ["status"],
)
ORDER_REJECTIONS = Counter(
    "mandi_execution_order_rejections",
    "Orders refused before reaching the broker, by the pre-trade rule that refused them "
    "(risk.py's rule names: daily_loss_limit, max_order_quantity, price_collar, "
    "max_orders_per_second, sebi_ops, duplicate, … or the malformed field).",
    ["rule"],
)
PNL = Gauge(
    "mandi_execution_pnl_paise",
    "Today's (IST) P&L per account in paise: kind=realized is booked round trips net of "
    "charges, kind=mtm the open positions marked to market. Set whenever the daily loss "
    "limit is evaluated (after each booked trade and each mark-to-market pass).",
    ["account", "kind"],
)
DAILY_LOSS_USED = Gauge(
    "mandi_execution_daily_loss_used_paise",
    "Today's loss the daily loss limit counts (−(realized + mtm), 0 when in profit), paise.",
    ["account"],
)
DAILY_LOSS_LIMIT = Gauge(
    "mandi_execution_daily_loss_limit_paise",
    "The account's daily loss limit, paise.",
    ["account"],
)
DAILY_LOSS_LATCHED = Gauge(
    "mandi_execution_daily_loss_latched",
    "1 while the account's daily loss limit is latched (new positions refused until the next "
    "IST day), else 0.",
    ["account"],
)

_RULE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_STATUSES = frozenset({"PENDING", "OPEN", "TRIGGER_PENDING", "PARTIALLY_FILLED", "COMPLETE",
                       "CANCELLED", "REJECTED"})
_DAY_GAUGES = (DAILY_LOSS_USED, DAILY_LOSS_LIMIT, DAILY_LOSS_LATCHED)
# account → the IST day its gauges describe (the worker refreshes them once a new day starts)
_published: dict[str, date] = {}


def order_status(status: str) -> None:
    ORDERS.labels(status if status in _STATUSES else "other").inc()


def rejected(rule: str) -> None:
    """Count a pre-trade refusal; anything but a code-defined rule name counts as `other`."""
    ORDER_REJECTIONS.labels(rule if _RULE.fullmatch(rule or "") else "other").inc()


def publish_day(account_id: str, day: date, *, realized_paise: int, mtm_paise: int,
                limit_paise: int, latched: bool) -> None:
    """The account's day as the daily loss limit sees it."""
    PNL.labels(account_id, "realized").set(realized_paise)
    PNL.labels(account_id, "mtm").set(mtm_paise)
    DAILY_LOSS_USED.labels(account_id).set(max(0, -(realized_paise + mtm_paise)))
    DAILY_LOSS_LIMIT.labels(account_id).set(limit_paise)
    DAILY_LOSS_LATCHED.labels(account_id).set(1 if latched else 0)
    _published[account_id] = day


def latched(account_id: str) -> None:
    DAILY_LOSS_LATCHED.labels(account_id).set(1)


def stale(account_id: str, day: date) -> bool:
    """True when the account's day gauges are missing or describe another day."""
    return _published.get(account_id) != day


def forget(account_id: str) -> None:
    """Drop an account's series (another replica leads it now, so its values live there)."""
    _published.pop(account_id, None)
    for gauge in _DAY_GAUGES:
        with contextlib.suppress(KeyError):
            gauge.remove(account_id)
    for kind in ("realized", "mtm"):
        with contextlib.suppress(KeyError):
            PNL.remove(account_id, kind)
