"""Past backtests: `GET /api/v1/backtests` (the caller's history, newest first, filtered and
paginated), and a finished run's trade log as CSV and its tear sheet as self-contained HTML.

The page token is the strategy service's opaque cursor; the gateway passes it through and a
malformed one is a 400 naming `page_token`. CSV money is rupees with exactly two decimals from
the stored paise (`mandi.core.money`); times are ISO-8601 UTC, as in the results JSON (the
core's `report.trade_log_csv` writes the engine's own trades with IST times, for local runs).
"""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from mandi.core.errors import InvalidInput, MandiError
from mandi.core.money import paise_to_rupees
from mandi.platform.status import grpc_error_to_domain
from mandi.v1 import common_pb2, strategy_pb2
from services.gateway.backtest_report import render_report
from services.gateway.routers.strategy import (
    JOB_STATES,
    Caller,
    Stubs,
    _ts,
    backtest_json,
    data_source_json,
    metrics_json,
)

router = APIRouter(tags=["backtest"])
STATE_OF = {name: code for code, name in JOB_STATES.items()}
CSV_COLUMNS = ("symbol", "side", "quantity", "entry_time", "entry_price", "exit_time",
               "exit_price", "gross_pnl", "charges", "net_pnl", "exit_reason")


def rupees_text(paise: int) -> str:
    """Exact rupees with two decimals: 12345 → "123.45", -5 → "-0.05"."""
    return str(paise_to_rupees(paise))


def renamed(exc: grpc.aio.AioRpcError, fields: dict[str, str]) -> MandiError:
    """The service's error with its field in this API's words (`page.page_token` →
    `page_token`)."""
    err = grpc_error_to_domain(exc)
    if err.field:
        for theirs, ours in fields.items():
            if err.field == theirs or err.field.startswith(theirs + "."):
                err.field = ours + err.field[len(theirs):]
                break
    return err


@router.get("/api/v1/backtests")
async def list_backtests(stubs: Stubs, md: Caller,
                         status: str | None = None,
                         strategy: Annotated[str | None, Query(max_length=200)] = None,
                         symbol: Annotated[str | None, Query(max_length=64)] = None,
                         limit: Annotated[int, Query(ge=1, le=500)] = 50,
                         page_token: Annotated[str, Query(max_length=512)] = "",
                         owner: Annotated[str | None, Query(max_length=200)] = None,
                         ) -> dict[str, Any]:
    """The caller's runs; an admin may name another user's with `owner`."""
    if status and status not in STATE_OF:
        raise InvalidInput(f"unknown status {status!r}; one of {', '.join(STATE_OF)}",
                           field="status")
    req = strategy_pb2.ListBacktestsRequest(
        page=common_pb2.PageRequest(page_size=limit, page_token=page_token),
        state=STATE_OF.get(status or "", 0), strategy=strategy or "", symbol=symbol or "",
        owner=owner or "")
    try:
        resp = await stubs.strategy.ListBacktests(req, metadata=md)
    except grpc.aio.AioRpcError as exc:
        raise renamed(exc, {"page.page_token": "page_token", "page.page_size": "limit",
                            "state": "status"}) from None
    return {"success": True, "backtests": [backtest_json(b) for b in resp.backtests],
            "total": resp.page.total, "next_page_token": resp.page.next_page_token or None}


async def _results(stubs: Any, md: Any, backtest_id: str
                   ) -> strategy_pb2.GetBacktestResultsResponse:
    return await stubs.strategy.GetBacktestResults(
        strategy_pb2.GetBacktestResultsRequest(id=backtest_id), metadata=md)


def trades_csv(r: strategy_pb2.GetBacktestResultsResponse) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for t in r.trades:
        w.writerow([t.symbol, t.side, t.quantity, _ts(t.entry_ts),
                    rupees_text(t.entry_price_paise), _ts(t.exit_ts) or "",
                    rupees_text(t.exit_price_paise), rupees_text(t.gross_pnl_paise),
                    rupees_text(t.charges_paise), rupees_text(t.net_pnl_paise), t.exit_reason])
    return out.getvalue()


@router.get("/api/v1/backtest/{backtest_id}/trades.csv")
async def backtest_trades_csv(backtest_id: str, stubs: Stubs, md: Caller) -> Response:
    r = await _results(stubs, md, backtest_id)
    return Response(trades_csv(r), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="backtest-{r.backtest.id}-trades.csv"'})


@router.get("/api/v1/backtest/{backtest_id}/report", response_class=HTMLResponse)
async def backtest_report(backtest_id: str, stubs: Stubs, md: Caller) -> HTMLResponse:
    """A QuantStats-style tear sheet: no script, no external asset (CSP `default-src 'none'`
    with inline styles only), so it can be saved and opened offline."""
    r = await _results(stubs, md, backtest_id)
    html = await asyncio.to_thread(  # ~0.2 s for a year of minute bars: off the event loop
        render_report, backtest_json(r.backtest), metrics_json(r.metrics), r,
        data_source_json(r))
    return HTMLResponse(html, headers={
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:"})
