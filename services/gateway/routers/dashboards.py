"""Seed 004's dashboard endpoints, called as the seed writes them, served by the execution service:

* `GET /api/trades?start_date&end_date[&symbol&segment]` — the seed's JSON **array** of
  `{id, symbol, entry_time, exit_time, entry_price, exit_price, quantity, pnl, type}` (`pnl` is the
  gross realized P&L, `type` the entry side, `quantity` signed as the seed's table: negative for
  SELL), plus Mandi's `trade_id`, `account_id`, `exchange`,
  `segment`, `side`, `charges`, `net_pnl`, `exit_reason`, `strategy_id`; newest exit first.
* `GET /api/v1/trades` — the same trades as Mandi's paged object `{trades, summary,
  next_page_token}` with the trade-history summary (`total_trades`, `total_profit`, `total_loss`
  as a positive amount, as the seed's `abs`, `net_pnl`, `win_rate`; all after charges, as
  `/api/cumulative-pnl`) — one account.
* `GET /api/trades/export?format=csv|json` — the seed's "export trades to JSON/CSV" backup.
* `GET /api/cumulative-pnl`, `GET /api/daily-stats` (the seed's `daily_loss_used`,
  `daily_loss_limit`, `percentage`), `GET /api/pnl-calendar` (dates optional).

The seed takes the broker from authentication, so `account_id` is optional: without it a call
covers every account the caller holds (an admin: every account), summed or merged; the
daily-loss card and the paged trades are one account's, so a caller holding several names one.
Dates are IST days, inclusive; `start_date`/`end_date` are the seed's names for
`from_date`/`to_date`; a symbol filter is a substring (`NIFTY` finds the NIFTY options). Times
are ISO 8601 in UTC.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from mandi.core.errors import InvalidInput, NotFound
from mandi.platform.protoconv import EXCHANGE_NAMES
from mandi.v1 import execution_pb2 as pb
from services.gateway.auth.enforce import Me
from services.gateway.clients import Backends
from services.gateway.deps import backends
from services.gateway.routers.trading import _ts, rupees

router = APIRouter(tags=["dashboards"])
Stubs = Annotated[Backends, Depends(backends)]
MaybeAccount = Annotated[str, Query(max_length=32)]
MAX_TRADES = 50_000  # one unpaged answer; more must be narrowed by dates
PAGE = 500
EXPORT_FIELDS = ("id", "account_id", "exchange", "symbol", "segment", "type", "quantity",
                 "entry_time", "entry_price", "exit_time", "exit_price", "pnl", "charges",
                 "net_pnl", "exit_reason", "strategy_id")


def _dates(from_date: str, to_date: str, start_date: str, end_date: str) -> tuple[str, str]:
    """The seed's start_date/end_date are the same as from_date/to_date (IST days, inclusive)."""
    for mine, seed, name in ((from_date, start_date, "start_date"),
                             (to_date, end_date, "end_date")):
        if mine and seed and mine != seed[:10]:
            raise InvalidInput(f"{name} contradicts {'from' if name[0] == 's' else 'to'}_date; "
                               "give one of them", field=name)
    return from_date or start_date[:10], to_date or end_date[:10]


async def caller_accounts(stubs: Backends, who: Any, account_id: str) -> list[str]:
    """The account named (refused as the guard does when not held), else every account the
    caller holds."""
    if account_id:
        if not who.holds(account_id):
            raise NotFound(f"no account {account_id!r}", field="account_id")
        return [account_id]
    resp = await stubs.execution.ListAccounts(pb.ListAccountsRequest(), metadata=who.metadata())
    return sorted(a.account_id for a in resp.accounts if who.holds(a.account_id))


async def one_account(stubs: Backends, who: Any, account_id: str) -> str:
    """The account named, else the caller's only account (400 naming account_id if several)."""
    held = await caller_accounts(stubs, who, account_id)
    if len(held) != 1:
        raise InvalidInput("you hold no account" if not held else
                           f"you hold {len(held)} accounts; name one", field="account_id")
    return held[0]


def trade_json(t: pb.Trade) -> dict[str, Any]:
    side = "BUY" if t.side == pb.SIDE_BUY else "SELL"
    return {"id": t.trade_id, "trade_id": t.trade_id, "account_id": t.account_id,
            "exchange": EXCHANGE_NAMES.get(t.symbol.exchange), "symbol": t.symbol.tradingsymbol,
            "segment": t.segment, "type": side, "side": side,
            "quantity": t.quantity if side == "BUY" else -t.quantity,
            "entry_price": rupees(t.entry_price_paise), "exit_price": rupees(t.exit_price_paise),
            "entry_time": _ts(t.entry_ts), "exit_time": _ts(t.exit_ts),
            "pnl": rupees(t.realized_pnl_paise), "charges": rupees(t.charges_paise),
            "net_pnl": rupees(t.net_pnl_paise), "exit_reason": t.exit_reason,
            "strategy_id": t.strategy_id}


async def _all_trades(stubs: Backends, accounts: list[str], from_date: str, to_date: str,
                      symbol: str, segment: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for account_id in accounts:
        token = ""
        while True:
            r = await stubs.execution.Trades(pb.TradesRequest(
                account_id=account_id, from_date=from_date, to_date=to_date, symbol=symbol,
                segment=segment, page={"page_size": PAGE, "page_token": token}))
            out.extend(trade_json(t) for t in r.trades)
            if len(out) > MAX_TRADES:
                raise InvalidInput(f"more than {MAX_TRADES} trades; narrow start_date/end_date "
                                   "or page with GET /api/v1/trades", field="start_date")
            token = r.page.next_page_token
            if not token:
                break
    out.sort(key=lambda t: (t["exit_time"] or "", t["id"]), reverse=True)
    return out


@router.get("/api/trades")
async def trades(stubs: Stubs, who: Me, account_id: MaybeAccount = "", start_date: str = "",
                 end_date: str = "", from_date: str = "", to_date: str = "", symbol: str = "",
                 segment: str = "") -> list[dict[str, Any]]:
    from_date, to_date = _dates(from_date, to_date, start_date, end_date)
    return await _all_trades(stubs, await caller_accounts(stubs, who, account_id), from_date,
                             to_date, symbol, segment)


@router.get("/api/trades/export")
async def export_trades(stubs: Stubs, who: Me, account_id: MaybeAccount = "",
                        start_date: str = "", end_date: str = "", from_date: str = "",
                        to_date: str = "", symbol: str = "", segment: str = "",
                        format: str = "csv") -> Response:
    fmt = format.strip().lower()
    if fmt not in ("csv", "json"):
        raise InvalidInput("must be csv or json", field="format")
    from_date, to_date = _dates(from_date, to_date, start_date, end_date)
    rows = await _all_trades(stubs, await caller_accounts(stubs, who, account_id), from_date,
                             to_date, symbol, segment)
    if fmt == "json":
        body, media = json.dumps(rows), "application/json"
    else:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS, extrasaction="ignore",
                           lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        body, media = buf.getvalue(), "text/csv; charset=utf-8"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="trades.{fmt}"'})


@router.get("/api/v1/trades")
async def trades_page(stubs: Stubs, who: Me, account_id: MaybeAccount = "",
                      from_date: str = "", to_date: str = "", start_date: str = "",
                      end_date: str = "", symbol: str = "", segment: str = "",
                      page_size: int = Query(100, ge=1, le=500),
                      page_token: str = "") -> dict[str, Any]:
    from_date, to_date = _dates(from_date, to_date, start_date, end_date)
    aid = await one_account(stubs, who, account_id)
    r = await stubs.execution.Trades(pb.TradesRequest(
        account_id=aid, from_date=from_date, to_date=to_date, symbol=symbol,
        segment=segment, page={"page_size": page_size, "page_token": page_token}))
    s = r.summary
    return {"success": True, "trades": [trade_json(t) for t in r.trades],
            "summary": {"total_trades": s.trades, "total_profit": rupees(s.total_profit_paise),
                        "total_loss": rupees(abs(s.total_loss_paise)),
                        "net_pnl": rupees(s.net_paise), "win_rate": s.win_rate},
            "next_page_token": r.page.next_page_token or None}


@router.get("/api/cumulative-pnl")
async def cumulative_pnl(stubs: Stubs, who: Me, account_id: MaybeAccount = "") -> dict[str, Any]:
    keys = ("all_time", "year", "month", "week", "day")
    total = dict.fromkeys(keys, 0)
    for aid in await caller_accounts(stubs, who, account_id):
        r = await stubs.execution.PnlSummary(pb.PnlSummaryRequest(account_id=aid))
        for k in keys:
            total[k] += getattr(r, f"{k}_paise")
    return {"success": True, **{k: rupees(v) for k, v in total.items()}}


@router.get("/api/daily-stats")
async def daily_stats(stubs: Stubs, who: Me, account_id: MaybeAccount = "",
                      date: str = "") -> dict[str, Any]:
    aid = await one_account(stubs, who, account_id)
    r = await stubs.execution.DailyStats(pb.DailyStatsRequest(account_id=aid, date=date))
    used, limit = rupees(r.loss_used_paise), rupees(r.loss_limit_paise)
    return {"success": True, "account_id": aid, "date": r.date,
            "daily_loss_used": used, "daily_loss_limit": limit, "percentage": r.loss_used_pct,
            "realized_pnl": rupees(r.realized_pnl_paise),
            "unrealized_pnl": rupees(r.unrealized_pnl_paise), "trades": r.trades,
            "loss_used": used, "loss_limit": limit, "loss_used_pct": r.loss_used_pct,
            "trading_blocked": r.trading_blocked}


@router.get("/api/pnl-calendar")
async def pnl_calendar(stubs: Stubs, who: Me, account_id: MaybeAccount = "",
                       from_date: str = "", to_date: str = "", start_date: str = "",
                       end_date: str = "") -> dict[str, Any]:
    """Without dates: the current year (IST), as the seed's calendar heatmap asks."""
    from_date, to_date = _dates(from_date, to_date, start_date, end_date)
    by_date: dict[str, list[int]] = {}
    for aid in await caller_accounts(stubs, who, account_id):
        r = await stubs.execution.PnlCalendar(pb.PnlCalendarRequest(
            account_id=aid, from_date=from_date, to_date=to_date))
        for d in r.days:
            day = by_date.setdefault(d.date, [0, 0])
            day[0] += d.pnl_paise
            day[1] += d.trades
    days = [{"date": k, "pnl": rupees(v[0]), "trades": v[1]} for k, v in sorted(by_date.items())]
    return {"success": True, "days": days, "pnl_by_date": {d["date"]: d["pnl"] for d in days}}
