"""Dashboard queries: cumulative P&L, trade history with summary, P&L calendar, daily-loss card.

Totals read the `daily_pnl` rollup (one row per account, IST day and segment, maintained in the
trade's own transaction), so they cost the same for ten trades or a million. A symbol filter is
a substring match, as seed 004's `trading_symbol LIKE '%x%'` (`NIFTY` finds every NIFTY
option), read from the per-symbol rollup `daily_symbol_pnl`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from mandi.core.clock import Clock, to_ist
from mandi.core.errors import InvalidInput
from mandi.platform.protoconv import parse_ist

MAX_PAGE = 500
DEFAULT_PAGE = 100
MAX_CALENDAR_DAYS = 3700


@dataclass(frozen=True)
class Summary:
    trades: int
    total_profit_paise: int
    total_loss_paise: int
    net_paise: int

    @property
    def win_rate(self) -> float:
        return 0.0 if not self.trades else round(100.0 * self._wins / self.trades, 2)

    _wins: int = 0


def _date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"malformed date {text!r}; expected YYYY-MM-DD", field=field) from None


def like_pattern(symbol: str) -> str:
    """`%symbol%` with LIKE's own wildcards in the input taken literally (escape `\\`)."""
    sym = (symbol or "").strip().upper()
    if not sym:
        return ""
    return "%" + sym.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _segment(segment: str) -> str:
    seg = (segment or "").strip().upper()
    if seg and seg not in ("EQUITY", "DERIVATIVES"):
        raise InvalidInput("segment must be EQUITY or DERIVATIVES", field="segment")
    return seg


async def cumulative(pool: Any, clock: Clock, account_id: str) -> dict[str, int]:
    today = to_ist(clock.now()).date()
    row = await pool.fetchrow(
        "SELECT coalesce(sum(net_paise), 0) AS all_time,"
        " coalesce(sum(net_paise) FILTER (WHERE trade_date >= $2), 0) AS year,"
        " coalesce(sum(net_paise) FILTER (WHERE trade_date >= $3), 0) AS month,"
        " coalesce(sum(net_paise) FILTER (WHERE trade_date >= $4), 0) AS week,"
        " coalesce(sum(net_paise) FILTER (WHERE trade_date = $5), 0) AS day"
        " FROM daily_pnl WHERE account_id = $1",
        account_id, today.replace(month=1, day=1), today.replace(day=1),
        today - timedelta(days=today.weekday()), today)
    return {k: int(v) for k, v in dict(row).items()}


def _token(ts: datetime, trade_id: str) -> str:
    return base64.urlsafe_b64encode(f"{ts.isoformat()}|{trade_id}".encode()).decode()


def _untoken(token: str) -> tuple[datetime, str]:
    try:
        ts, _, tid = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        return datetime.fromisoformat(ts), tid
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("malformed page_token", field="page_token") from None


async def trades(pool: Any, account_id: str, *, from_date: str = "", to_date: str = "",
                 symbol: str = "", segment: str = "", page_size: int = 0,
                 page_token: str = "") -> tuple[list[Any], Summary, str]:
    seg = _segment(segment)
    sym = like_pattern(symbol)
    start = parse_ist(from_date, field="from_date") if from_date else None
    end = parse_ist(to_date, field="to_date", end_of_day=True) if to_date else None
    if start and end and start >= end:
        raise InvalidInput("from_date is after to_date", field="from_date")
    size = min(page_size or DEFAULT_PAGE, MAX_PAGE)
    if size < 0:
        raise InvalidInput("page_size must be >= 0", field="page_size")
    after_ts, after_id = _untoken(page_token) if page_token else (None, "")
    rows = await pool.fetch(
        "SELECT * FROM trades WHERE account_id = $1"
        " AND ($2::timestamptz IS NULL OR exit_ts >= $2)"
        " AND ($3::timestamptz IS NULL OR exit_ts < $3)"
        " AND ($4 = '' OR tradingsymbol LIKE $4) AND ($5 = '' OR segment = $5)"
        " AND ($6::timestamptz IS NULL OR (exit_ts, trade_id) < ($6, $7))"
        " ORDER BY exit_ts DESC, trade_id DESC LIMIT $8",
        account_id, start, end, sym, seg, after_ts, after_id, size + 1)
    token = ""
    if len(rows) > size:
        rows = rows[:size]
        token = _token(rows[-1]["exit_ts"], rows[-1]["trade_id"])
    summary = await summarize(pool, account_id, from_date=from_date, to_date=to_date,
                              symbol=sym, segment=seg)
    return rows, summary, token


async def summarize(pool: Any, account_id: str, *, from_date: str = "", to_date: str = "",
                    symbol: str = "", segment: str = "") -> Summary:
    """Totals from the rollups (per day and segment, or per day and symbol); `symbol` is a
    LIKE pattern (like_pattern)."""
    d0 = _date(from_date, "from_date") if from_date else None
    d1 = _date(to_date, "to_date") if to_date else None
    table, extra = ("daily_symbol_pnl", " AND tradingsymbol LIKE $5") if symbol else \
        ("daily_pnl", " AND $5 = ''")
    row = await pool.fetchrow(
        "SELECT coalesce(sum(trades), 0) AS trades, coalesce(sum(wins), 0) AS wins,"
        " coalesce(sum(profit_paise), 0) AS profit, coalesce(sum(loss_paise), 0) AS loss"
        f" FROM {table} WHERE account_id = $1"
        " AND ($2::date IS NULL OR trade_date >= $2) AND ($3::date IS NULL OR trade_date <= $3)"
        " AND ($4 = '' OR segment = $4)" + extra, account_id, d0, d1, segment, symbol)
    profit, loss = int(row["profit"]), int(row["loss"])
    return Summary(int(row["trades"]), profit, loss, profit + loss, int(row["wins"]))


async def calendar(pool: Any, account_id: str, from_date: str, to_date: str) -> list[Any]:
    d0, d1 = _date(from_date, "from_date"), _date(to_date, "to_date")
    if d0 > d1:
        raise InvalidInput("from_date is after to_date", field="from_date")
    if (d1 - d0).days > MAX_CALENDAR_DAYS:
        raise InvalidInput(f"a calendar spans at most {MAX_CALENDAR_DAYS} days", field="to_date")
    return await pool.fetch(
        "SELECT trade_date, sum(net_paise) AS pnl, sum(trades) AS trades FROM daily_pnl"
        " WHERE account_id = $1 AND trade_date BETWEEN $2 AND $3"
        " GROUP BY trade_date ORDER BY trade_date", account_id, d0, d1)


async def daily(pool: Any, clock: Clock, account_id: str, day: str = "") -> dict[str, Any]:
    d = _date(day, "date") if day else to_ist(clock.now()).date()
    row = await pool.fetchrow(
        "SELECT r.daily_loss_limit_paise AS lim, s.realized_pnl_paise AS realized,"
        " s.trades AS trades, s.trading_blocked AS blocked"
        " FROM risk_limits r LEFT JOIN daily_stats s ON s.account_id = r.account_id"
        " AND s.date = $2 WHERE r.account_id = $1", account_id, d)
    if row is None:
        from mandi.core.errors import NotFound
        raise NotFound(f"no account {account_id!r}", field="account_id")
    unrealized = await pool.fetchval(
        "SELECT coalesce(sum(CASE WHEN last_price_paise > 0 THEN"
        " quantity * last_price_paise - sign(quantity) * cost_paise ELSE 0 END), 0)"
        " FROM positions WHERE account_id = $1 AND status = 'open'", account_id)
    realized = int(row["realized"] or 0)
    limit = int(row["lim"])
    # today's card counts what the loss limit enforces (loss_limit.py): realised plus the open
    # positions marked to market; a past day's card has only its realised figure
    open_pnl = int(unrealized) if d == to_ist(clock.now()).date() else 0
    used = max(0, -(realized + open_pnl))
    return {"date": d.isoformat(), "realized_pnl_paise": realized,
            "unrealized_pnl_paise": int(unrealized), "trades": int(row["trades"] or 0),
            "loss_used_paise": used, "loss_limit_paise": limit,
            "loss_used_pct": round(100.0 * used / limit, 2) if limit else 0.0,
            "trading_blocked": bool(row["blocked"]) or used >= limit}
