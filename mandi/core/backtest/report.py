"""Reports: the trade log as CSV (rupees as exact decimals, IST times), the equity series, and
monthly returns from an equity curve (months of the IST calendar)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from mandi.core.backtest.portfolio import Trade
from mandi.core.clock import IST
from mandi.core.money import paise_to_rupees

COLUMNS = ("symbol", "tag", "side", "qty", "entry_time", "entry_price", "exit_time", "exit_price",
           "gross_pnl", "charges", "net_pnl", "exit_reason")


def ist(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).astimezone(IST).isoformat()


def trade_rows(trades: Iterable[Trade]) -> list[list[str]]:
    return [[t.symbol, t.tag, t.side, str(t.qty), ist(t.entry_ts),
             str(paise_to_rupees(t.entry_price_paise)), ist(t.exit_ts),
             str(paise_to_rupees(t.exit_price_paise)), str(paise_to_rupees(t.gross_pnl_paise)),
             str(paise_to_rupees(t.charges_paise)), str(paise_to_rupees(t.net_pnl_paise)),
             t.exit_reason] for t in trades]


def trade_log_csv(trades: Iterable[Trade]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows(trade_rows(trades))
    return buf.getvalue()


def monthly_returns(points: Sequence[tuple[datetime, int]], capital_paise: int
                    ) -> dict[int, dict[int, float]]:
    """{year: {month: return}} from month-end equity (IST months), the first month measured
    from the starting capital."""
    ends: dict[tuple[int, int], int] = {}
    for ts, eq in points:
        local = ts.astimezone(IST)
        ends[(local.year, local.month)] = eq
    out: dict[int, dict[int, float]] = {}
    prev = capital_paise
    for (year, month), eq in sorted(ends.items()):
        if prev > 0:
            out.setdefault(year, {})[month] = eq / prev - 1
        prev = eq
    return out


def year_returns(months: dict[int, dict[int, float]]) -> dict[int, float]:
    return {y: math.prod(1 + r for r in m.values()) - 1 for y, m in months.items()}
