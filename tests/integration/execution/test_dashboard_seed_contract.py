"""Seed 004's dashboard endpoints called exactly as the seed writes them — no `account_id` (the
seed takes the broker from authentication), its `start_date`/`end_date` — by a trader holding one
account, through the gateway and a real execution service over gRPC and PostgreSQL. One test per
seed-coverage row (004.19 … 004.25).

The trades come from the seed's own P&L records (`POST /api/v1/pnl/import`): each position is a
trade exiting at 15:30 IST (10:00 UTC) on its day. The test clock is 2026-03-10 IST."""

from __future__ import annotations

import csv
import io
import json

import pytest

from mandi.testing.gateway_auth import trust
from tests.integration.execution.api_kit import Api

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SEED_TRADE_FIELDS = {"id", "symbol", "entry_time", "exit_time", "entry_price", "exit_price",
                     "quantity", "pnl", "type"}


def _pos(symbol: str, exchange: str, qty: int, avg: float, last: float, pnl: float) -> dict:
    return {"tradingsymbol": symbol, "exchange": exchange, "quantity": qty,
            "average_price": avg, "last_price": last, "pnl": pnl}


# May 2024: two NIFTY options (NFO) and an equity; June: one more NIFTY option
RECORDS = [
    {"date": "2024-05-02", "pnl": 1500.0, "positions": [
        _pos("NIFTY24MAY22500CE", "NFO", 50, 100.0, 130.0, 1500.0)]},
    {"date": "2024-05-03", "pnl": -600.0, "positions": [
        _pos("NIFTY24MAY22400PE", "NFO", -50, 80.0, 92.0, -600.0)]},
    {"date": "2024-05-06", "pnl": 250.5, "positions": [
        _pos("SBIN", "NSE", 10, 812.0, 837.05, 250.5)]},
    {"date": "2024-06-03", "pnl": 75.0, "positions": [
        _pos("NIFTY24JUN22000CE", "NFO", 25, 40.0, 43.0, 75.0)]},
]


async def _import(api: Api, aid: str, records: list[dict]) -> None:
    r = await api.http.post("/api/v1/pnl/import", data={"account_id": aid},
                            files={"file": ("daily_pnl.json", json.dumps(records).encode(),
                                            "application/json")})
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.text


async def _trader(api: Api, records: list[dict] = RECORDS) -> str:
    """A fresh account with `records`, another account with a trade of its own (api.other),
    and the caller a trader holding only the first."""
    mine, theirs = await api.env.add_account(), await api.env.add_account()
    await _import(api, mine, records)
    await _import(api, theirs, [{"date": "2024-05-02", "pnl": 999.0, "positions": [
        _pos("NIFTY24MAY22500CE", "NFO", 50, 100.0, 119.98, 999.0)]}])
    trust(api.app, "seeduser", "trader", frozenset({mine}))
    api.other = theirs
    return mine


async def test_004_20_trades_with_start_end_date_is_the_seeds_array(api: Api) -> None:
    mine = await _trader(api)
    r = await api.http.get("/api/trades", params={"start_date": "2024-05-01",
                                                  "end_date": "2024-05-31"})
    assert r.status_code == 200, r.text
    trades = r.json()
    assert isinstance(trades, list) and len(trades) == 3  # May only; not the other account's
    assert all(SEED_TRADE_FIELDS <= t.keys() and t["account_id"] == mine for t in trades)
    newest = trades[0]  # newest exit first
    assert {k: newest[k] for k in SEED_TRADE_FIELDS - {"id"}} == {
        "symbol": "SBIN", "entry_time": "2024-05-06T10:00:00+00:00",
        "exit_time": "2024-05-06T10:00:00+00:00", "entry_price": 812.0, "exit_price": 837.05,
        "quantity": 10, "pnl": 250.5, "type": "BUY"}
    assert [t["symbol"] for t in trades] == ["SBIN", "NIFTY24MAY22400PE", "NIFTY24MAY22500CE"]
    # the seed's quantity is signed: negative for SELL
    assert (trades[1]["type"], trades[1]["quantity"]) == ("SELL", -50)
    assert isinstance(newest["id"], str) and newest["id"]
    everything = (await api.http.get("/api/trades")).json()
    assert len(everything) == 4  # no dates: all of the caller's trades
    for path in ("/api/trades", "/api/trades/export", "/api/pnl-calendar", "/api/daily-stats",
                 "/api/cumulative-pnl"):
        r = await api.http.get(path, params={"account_id": api.other})
        assert r.status_code == 404 and r.json()["error"].startswith("account_id: "), path


async def test_004_21_cumulative_pnl_without_account_is_the_callers(api: Api) -> None:
    await _trader(api, [{"date": "2026-03-10", "pnl": 120.0},
                        {"date": "2026-03-02", "pnl": -20.0},
                        {"date": "2025-12-31", "pnl": 1000.0}])
    r = await api.http.get("/api/cumulative-pnl")
    assert r.status_code == 200, r.text
    # Tue 10 Mar 2026: the week starts Mon 9 Mar; the month and year hold 120 − 20 = 100
    assert {k: r.json()[k] for k in ("all_time", "year", "month", "week", "day")} == {
        "all_time": 1100.0, "year": 100.0, "month": 100.0, "week": 120.0, "day": 120.0}


async def test_004_22_daily_stats_has_the_seeds_loss_fields(api: Api) -> None:
    mine = await _trader(api, [{"date": "2026-03-10", "pnl": -1250.0}])
    r = await api.http.get("/api/daily-stats")
    assert r.status_code == 200, r.text
    card = r.json()
    # ₹1,250 lost of the default ₹5,000 limit: 25 %
    assert (card["daily_loss_used"], card["daily_loss_limit"], card["percentage"]) == (
        1250.0, 5000.0, 25.0)
    assert card["account_id"] == mine and card["date"] == "2026-03-10"
    trust(api.app)  # an admin holds every account: the card is one account's, so name it
    many = await api.http.get("/api/daily-stats")
    assert many.status_code == 400 and many.json()["error"].startswith("account_id: ")
    named = (await api.http.get("/api/daily-stats", params={"account_id": mine})).json()
    assert named["percentage"] == 25.0


async def test_004_23_pnl_calendar_dates_optional_and_seed_names(api: Api) -> None:
    await _trader(api)
    r = await api.http.get("/api/pnl-calendar", params={"start_date": "2024-05-01",
                                                        "end_date": "2024-05-31"})
    assert r.status_code == 200, r.text
    assert r.json()["pnl_by_date"] == {"2024-05-02": 1500.0, "2024-05-03": -600.0,
                                       "2024-05-06": 250.5}
    year = await api.http.get("/api/pnl-calendar")  # no dates: the current year, 2026
    assert year.status_code == 200 and year.json()["pnl_by_date"] == {}


async def test_004_25_trade_history_symbol_substring_segment_and_summary(api: Api) -> None:
    mine = await _trader(api)
    may = {"start_date": "2024-05-01", "end_date": "2024-05-31"}
    nifty = (await api.http.get("/api/trades", params={**may, "symbol": "NIFTY"})).json()
    assert sorted(t["symbol"] for t in nifty) == ["NIFTY24MAY22400PE", "NIFTY24MAY22500CE"]
    eq = (await api.http.get("/api/trades", params={**may, "segment": "EQUITY"})).json()
    assert [t["symbol"] for t in eq] == ["SBIN"]
    assert (await api.http.get("/api/trades", params={"symbol": "N_FTY"})).json() == []
    page = (await api.http.get("/api/v1/trades", params={**may, "symbol": "nifty"})).json()
    assert page == (await api.http.get("/api/v1/trades", params={
        "account_id": mine, **may, "symbol": "nifty"})).json()
    # 1,500 won and 600 lost (the seed's abs): net 900, one win in two
    assert page["summary"] == {"total_trades": 2, "total_profit": 1500.0, "total_loss": 600.0,
                               "net_pnl": 900.0, "win_rate": 50.0}
    bad = await api.http.get("/api/trades", params={"segment": "FNO"})
    assert bad.status_code == 400 and "segment" in bad.json()["error"]


async def test_004_19_trades_export_csv_and_json(api: Api) -> None:
    await _trader(api)
    r = await api.http.get("/api/trades/export", params={"format": "csv",
                                                         "start_date": "2024-06-01"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="trades.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["symbol"], x["type"], x["quantity"], x["pnl"]) for x in rows] == [
        ("NIFTY24JUN22000CE", "BUY", "25", "75.0")]
    js = await api.http.get("/api/trades/export", params={"format": "json"})
    assert js.status_code == 200 and len(js.json()) == 4
    assert js.json() == (await api.http.get("/api/trades")).json()
    bad = await api.http.get("/api/trades/export", params={"format": "xlsx"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("format: ")
