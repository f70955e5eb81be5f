"""Past backtests over REST, gateway → strategy service → PostgreSQL on real sockets: the history
list (newest first, paginated, filtered, the caller's own), DELETE (deletes a finished run,
cancels a running one), `data_source` in the results, the trade log as CSV and the HTML tear
sheet, each checked against the results JSON of the same run."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from decimal import Decimal
from urllib.parse import quote

import pytest
import pytest_asyncio

from mandi.core.clock import IST
from services.gateway.backtest_report import metric_text
from tests.integration.gateway.kit import times_not_utc
from tests.integration.strategy.gateway_client import gateway_client
from tests.integration.strategy.reference import served_bars
from tests.integration.strategy.test_strategy_rest import RUN, wait_done

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

JAN = {**RUN, "from": "2025-01-01", "to": "2025-01-31"}
UNKNOWN = "00000000-0000-0000-0000-000000000000"


@pytest_asyncio.fixture(loop_scope="module")
async def api(strategy, history):
    async with gateway_client(strategy.port, history[1], "trader") as c:
        yield c


@pytest_asyncio.fixture(loop_scope="module")
async def other(strategy, history):
    async with gateway_client(strategy.port, history[1], "trader") as c:
        yield c


async def run(api, **change) -> str:
    r = await api.post("/api/v1/backtest/run", json={**JAN, **change, "wait": True})
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    return r.json()["id"]


async def _owner_of(api) -> str:
    return (await api.get("/api/v1/auth/me")).json()["username"]


async def test_backtests_when_listed_newest_first_paginated_and_filtered(api, other, strategy,
                                                                         history):
    a = await run(api)
    b = await run(api, strategy={"type": "rsi", "params": {"period": 14}}, symbols=["NSE:TCS"])
    c = await run(api, symbols=["NSE:TCS"])
    first = await api.get("/api/v1/backtests", params={"limit": 2})
    assert first.status_code == 200, first.text
    page1 = first.json()
    assert page1["total"] == 3 and [x["id"] for x in page1["backtests"]] == [c, b]
    assert page1["backtests"][0]["summary"]["trades"] > 0
    page2 = (await api.get("/api/v1/backtests", params={
        "limit": 2, "page_token": page1["next_page_token"]})).json()
    assert [x["id"] for x in page2["backtests"]] == [a] and page2["next_page_token"] is None

    async def ids(**params) -> list[str]:
        r = await api.get("/api/v1/backtests", params=params)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["backtests"]]

    assert await ids(strategy="rsi") == [b]
    assert await ids(strategy="ema_crossover", symbol="NSE:TCS") == [c]
    assert await ids(symbol="nse:infy") == [a]
    assert await ids(status="done") == [c, b, a]
    assert await ids(status="failed") == []
    # another user's history holds none of them
    theirs = (await other.get("/api/v1/backtests")).json()
    assert theirs["total"] == 0 and theirs["backtests"] == []
    me = (await api.get("/api/v1/backtests")).json()["backtests"][0]["strategy"]
    assert me["type"] == "ema_crossover"
    # nor may they read it by naming the owner; an admin may
    owner = await _owner_of(api)
    assert (await other.get("/api/v1/backtests", params={"owner": owner})).status_code == 403
    async with gateway_client(strategy.port, history[1], "admin") as admin:
        seen = (await admin.get("/api/v1/backtests", params={"owner": owner})).json()
    assert [x["id"] for x in seen["backtests"]] == [c, b, a]


@pytest.mark.parametrize(("params", "needle"), [
    ({"page_token": "garbage!"}, "page_token"),
    ({"page_token": "MjAyNXxub3QtYS11dWlk"}, "page_token"),  # base64 of "2025|not-a-uuid"
    ({"status": "finished"}, "status"),
    ({"limit": 0}, "limit"),
    ({"symbol": "INFY"}, "symbol"),
])
async def test_backtests_when_query_bad_is_400_naming_field(api, params, needle):
    r = await api.get("/api/v1/backtests", params=params)
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]


async def test_backtest_delete_when_finished_deletes_results(api, other):
    bid = await run(api)
    assert (await other.delete(f"/api/v1/backtest/{bid}")).status_code == 404  # not theirs
    r = await api.delete(f"/api/v1/backtest/{bid}")
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "deleted" and r.json()["id"] == bid
    assert r.json()["status"] == "done"
    assert (await api.get(f"/api/v1/backtest/{bid}")).status_code == 404
    assert (await api.get(f"/api/v1/backtest/{bid}/results")).status_code == 404
    assert (await api.get("/api/v1/backtests")).json()["total"] == 0
    assert (await api.delete(f"/api/v1/backtest/{bid}")).status_code == 404


async def test_backtest_delete_when_running_cancels_then_deletes(api, history):
    history[0].delay_s = 0.2
    bid = (await api.post("/api/v1/backtest/run", json=RUN)).json()["id"]
    r = await api.delete(f"/api/v1/backtest/{bid}")
    assert r.status_code == 200 and r.json()["action"] == "cancelled", r.text
    assert (await wait_done(api, bid))["status"] == "cancelled"
    again = await api.delete(f"/api/v1/backtest/{bid}")
    assert again.json()["action"] == "deleted"
    assert (await api.get(f"/api/v1/backtest/{bid}")).status_code == 404


async def test_backtest_delete_when_unknown_is_404_malformed_400(api):
    assert (await api.delete(f"/api/v1/backtest/{UNKNOWN}")).status_code == 404
    assert (await api.delete("/api/v1/backtest/nope")).status_code == 400


async def test_backtest_results_when_done_carry_data_source(api):
    bid = await run(api, symbols=["NSE:INFY", "NSE:TCS"])
    res = (await api.get(f"/api/v1/backtest/{bid}/results")).json()
    src = res["data_source"]
    assert (src["service"], src["table"], src["interval"]) == ("history", "history.ohlcv",
                                                              "minute")
    # the requested range as the run read it: 1 Jan 00:00 IST to 1 Feb 00:00 IST (`to` inclusive)
    assert datetime.fromisoformat(src["from"]) == datetime.fromisoformat("2025-01-01T00:00+05:30")
    assert datetime.fromisoformat(src["to"]) == datetime.fromisoformat("2025-02-01T00:00+05:30")
    lo, hi = datetime.fromisoformat(src["from"]), datetime.fromisoformat(src["to"])
    for item in src["symbols"]:
        bars = served_bars(item["symbol"], lo, hi)
        assert item["bars"] == len(bars) > 0
        assert datetime.fromisoformat(item["first_ts"]).timestamp() * 1e9 == bars.ts[0]
        assert datetime.fromisoformat(item["last_ts"]).timestamp() * 1e9 == bars.ts[-1]
    assert [s["symbol"] for s in src["symbols"]] == ["NSE:INFY", "NSE:TCS"]
    assert src["bars"] == sum(s["bars"] for s in src["symbols"])
    # seed 002: every timestamp ISO 8601 in UTC — the run, its results, the history of runs
    status = (await api.get(f"/api/v1/backtest/{bid}")).json()
    listed = (await api.get("/api/v1/backtests")).json()
    assert src["from"].endswith("+00:00") and status["created_at"].endswith("+00:00")
    assert (times_not_utc(res), times_not_utc(status), times_not_utc(listed)) == ([], [], [])


async def test_backtest_trades_csv_when_done_matches_results_json(api):
    bid = await run(api)
    res = (await api.get(f"/api/v1/backtest/{bid}/results")).json()
    r = await api.get(f"/api/v1/backtest/{bid}/trades.csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == (
        f'attachment; filename="backtest-{bid}-trades.csv"')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(res["trades"]) == res["metrics"]["trades"] > 0
    for row, t in zip(rows, res["trades"], strict=True):
        assert (row["symbol"], row["side"], int(row["quantity"])) == (
            t["symbol"], t["side"], t["quantity"])
        assert row["entry_time"] == t["entry_time"] and row["exit_time"] == t["exit_time"]
        assert row["entry_time"].endswith("+00:00")
        for key in ("entry_price", "exit_price", "gross_pnl", "charges", "net_pnl"):
            assert re.fullmatch(r"-?\d+\.\d\d", row[key]), row[key]
            assert Decimal(row[key]) * 100 == round(t[key] * 100), key
        assert row["exit_reason"] == t["exit_reason"]
    assert (await api.get(f"/api/v1/backtest/{UNKNOWN}/trades.csv")).status_code == 404


async def test_backtest_trades_csv_when_running_is_409(api, history):
    history[0].delay_s = 0.2
    bid = (await api.post("/api/v1/backtest/run", json=RUN)).json()["id"]
    r = await api.get(f"/api/v1/backtest/{bid}/trades.csv")
    assert r.status_code == 409 and "results exist once it is done" in r.json()["error"]
    await api.delete(f"/api/v1/backtest/{bid}")
    await wait_done(api, bid)


async def test_backtest_report_when_done_is_self_contained_html_with_the_metrics(api):
    bid = await run(api, **{"from": "2025-01-01", "to": "2025-03-10"})
    res = (await api.get(f"/api/v1/backtest/{bid}/results")).json()
    r = await api.get(f"/api/v1/backtest/{bid}/report")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    html = r.text
    m = res["metrics"]
    for key in ("total_return", "sharpe", "sortino", "max_drawdown", "win_rate", "trades",
                "net_pnl", "final_equity", "profit_factor"):
        assert f'data-metric="{key}">{metric_text(m, key)}<' in html, key
    assert metric_text(m, "trades") == str(len(res["trades"]))
    assert html.count("<svg") == 2
    # nothing fetched from elsewhere: no script, no link, no external source
    assert not re.search(r"<script|<link|src=|url\(|@import", html)
    assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"] * 2
    # monthly returns: month-end equity (IST) over the previous month-end, from the capital
    eq = res["equity_curve"]
    ends: dict[str, float] = {}
    for p in eq:
        ends[datetime.fromisoformat(p["ts"]).astimezone(IST).strftime("%Y-%m")] = p["equity"]
    prev = JAN["capital"]
    for month, value in sorted(ends.items()):
        want = f"{(value / prev - 1) * 100:.2f}%"
        assert re.search(f'data-month="{month}">{re.escape(want)}<', html), (month, want)
        prev = value
    assert len(ends) == 3
    assert (await api.get(f"/api/v1/backtest/{UNKNOWN}/report")).status_code == 404


NASTY = ["", "a\x00b", "x" * 400, "admin' OR '1'='1", "%00", "😀" * 40, "\u202e", "-1"]


async def test_backtests_when_query_nasty_is_never_5xx(api):
    for value in NASTY:
        for key in ("status", "strategy", "symbol", "limit", "page_token"):
            r = await api.get("/api/v1/backtests", params={key: value})
            assert r.status_code < 500, (key, value, r.text)
            assert r.json()["success"] is (r.status_code == 200)
        for suffix in ("", "/results", "/trades.csv", "/report"):
            r = await api.get(f"/api/v1/backtest/{quote(value or 'x', safe='')}{suffix}")
            assert 400 <= r.status_code < 500, (suffix, value, r.text)
