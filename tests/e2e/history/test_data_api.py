"""The data REST API end to end: gateway → history → kitesim (real kiteconnect) → PostgreSQL."""

from __future__ import annotations

import time
from datetime import date

import pytest

pytestmark = pytest.mark.e2e

YEAR = {"from_date": "2025-01-01", "to_date": "2025-12-31"}


def kitesim_minute_bars(stack, symbol: str, start: date, end: date) -> int:
    """What kitesim holds for the range, counted from its raw HTTP answers (60-day requests,
    Kite's limit for minute data) — independent of Mandi's client and parser."""
    import httpx

    kite = stack.kitesim.kite()
    token = next(i["instrument_token"] for i in kite.instruments("NSE")
                 if i["tradingsymbol"] == symbol)
    auth = {"Authorization": f"token {stack.kitesim.api_key}:{kite.access_token}",
            "X-Kite-Version": "3"}
    total, cur = 0, start
    time.sleep(1.1)  # let kitesim's 1 s window forget the history service's last requests
    with httpx.Client(base_url=stack.kitesim.url, headers=auth, timeout=30) as http:
        while cur <= end:
            stop = min(end, date.fromordinal(cur.toordinal() + 59))
            time.sleep(0.4)  # kitesim enforces Kite's 3 req/s on this key too
            r = http.get(f"/instruments/historical/{token}/minute",
                         params={"from": f"{cur} 00:00:00", "to": f"{stop} 23:59:59"})
            r.raise_for_status()
            total += len(r.json()["data"]["candles"])
            cur = date.fromordinal(stop.toordinal() + 1)
    return total


def test_fetch_equity_when_year_of_minutes_stores_what_kitesim_holds_then_is_incremental(
    data_stack,
) -> None:
    with data_stack.client() as http:
        first = http.post("/api/data/fetch-equity",
                          json={"symbol": "INFY", "interval": "minute", **YEAR})
        assert first.status_code == 200, first.text
        body = first.json()
        expected = kitesim_minute_bars(data_stack, "INFY", date(2025, 1, 1), date(2025, 12, 31))
        assert expected > 90_000
        assert body["success"] is True and body["exchange"] == "NSE"
        assert body["records"] == expected
        assert body["rows_invalid"] == 0

        again = http.post("/api/data/fetch-equity",
                          json={"symbol": "INFY", "interval": "minute", **YEAR}).json()
        assert again["records"] == 0
        assert again["requests"] == 0

        # the seed's existing-range: the first and the last date with data (2025-01-01 and
        # 2025-12-31 are both NSE sessions)
        rng = http.get("/api/data/existing-range/NSE/INFY/minute").json()
        assert (rng["start_date"], rng["end_date"], rng["bars"]) == (
            "2025-01-01", "2025-12-31", expected)

        # punch a hole of three sessions in the middle, then fetch again: exactly the hole
        deleted = http.delete("/api/data/candles/NSE/INFY", params={
            "interval": "minute", "from_date": "2025-06-10", "to_date": "2025-06-12"}).json()
        assert deleted["deleted"] == 3 * 375
        cov = http.get("/api/data/coverage/NSE/INFY/minute", params=YEAR).json()
        assert cov["missing_sessions"] == 3
        assert cov["missing_dates"] == ["2025-06-10", "2025-06-11", "2025-06-12"]

        refill = http.post("/api/data/fetch-equity",
                           json={"symbol": "INFY", "interval": "minute", **YEAR}).json()
        assert refill["records"] == deleted["deleted"]
        cov = http.get("/api/data/coverage/NSE/INFY/minute", params=YEAR).json()
        assert cov["missing_sessions"] == 0 and cov["bars"] == expected


@pytest.mark.parametrize(("path", "body", "status", "needle"), [
    ("/api/data/fetch-equity", {"symbol": "NOSUCHCO", "exchange": "NSE", **YEAR}, 404, "NOSUCHCO"),
    ("/api/data/fetch-equity", {"symbol": "INFY", "exchange": "MCX", **YEAR}, 400, "exchange"),
    ("/api/data/fetch-equity", {"symbol": "INFY", "interval": "2minute", **YEAR}, 400,
     "interval"),
    ("/api/data/fetch-equity", {"symbol": "INFY", "from_date": "2025-06-01",
                                "to_date": "2025-01-01"}, 400, "from_date"),
    ("/api/data/fetch-equity", {"symbol": "INFY", "from_date": "2025-13-45",
                                "to_date": "2025-12-31"}, 400, "from_date"),
    ("/api/data/fetch-batch", {"requests": []}, 400, "requests"),
    ("/api/data/fetch-derivatives", {"symbol": "INFY", "exchange": "NSE", **YEAR}, 400,
     "exchange"),
])
def test_data_api_when_input_is_bad_answers_4xx_naming_the_problem(
    data_stack, path: str, body: dict, status: int, needle: str,
) -> None:
    with data_stack.client() as http:
        before = http.get("/api/data/database-info/EQUITY").json()["rows"]
        resp = http.post(path, json=body)
        assert resp.status_code == status, resp.text
        err = resp.json()
        assert err["success"] is False and needle in err["error"]
        assert err["error_type"] in {"validation", "not_found"}
        assert http.get("/api/data/database-info/EQUITY").json()["rows"] == before


def test_import_symbols_when_upload_is_10mb_of_garbage_answers_400(data_stack) -> None:
    import os

    with data_stack.client() as http:
        before = http.get("/api/data/database-info/EQUITY").json()["rows"]
        resp = http.post("/api/data/import-symbols",
                         files={"file": ("symbols.csv", os.urandom(10 * 1024 * 1024))},
                         data={"from_date": "2025-01-01", "to_date": "2025-01-31"})
        assert resp.status_code == 400, resp.text
        assert resp.json()["success"] is False and "file" in resp.json()["error"]
        assert http.get("/api/data/database-info/EQUITY").json()["rows"] == before


def test_fetch_derivatives_and_batch_when_valid_store_and_report_per_item(data_stack) -> None:
    with data_stack.client() as http:
        futs = http.get("/api/data/instruments/NFO", params={"limit": 5000}).json()
        fut = next(i for i in futs["instruments"] if i["instrument_type"] == "FUT"
                   and i["underlying"] == "NIFTY")
        body = {"exchange": "NFO", "symbol": fut["tradingsymbol"], "interval": "day",
                "from_date": "2026-01-01", "to_date": "2026-02-27", "oi": True}
        got = http.post("/api/data/fetch-derivatives", json=body)
        assert got.status_code == 200, got.text
        assert got.json()["records"] > 0 and got.json()["exchange"] == "NFO"
        info = http.get("/api/data/database-info/DERIVATIVES").json()
        assert info["rows"] == got.json()["records"] and info["exchanges"] == ["NFO", "BFO"]

        batch = {"requests": [
            {"segment": "EQUITY", "symbol": "TCS", "from_date": "2025-01-01",
             "to_date": "2025-03-31", "interval": "day"},
            {"segment": "EQUITY", "symbol": "SBIN", "from_date": "2025-01-01",
             "to_date": "2025-03-31", "interval": "60minute"},
        ]}
        out = http.post("/api/data/fetch-batch", json=batch).json()
        assert (out["total"], out["successful"], out["failed"]) == (2, 2, 0)
        assert out["success_rate"] == 100.0
        assert [r["date_range"] for r in out["results"]] == ["2025-01-01 to 2025-03-31"] * 2
        assert all(r["elapsed_seconds"] >= 0 for r in out["results"])
        by_symbol = {r["symbol"]: r["records"] for r in out["results"]}
        sessions = len(http.get("/api/data/coverage/NSE/TCS/day", params={
            "from_date": "2025-01-01", "to_date": "2025-03-31"}).json()["missing_dates"]) == 0
        assert sessions and by_symbol["TCS"] > 55 and by_symbol["SBIN"] == by_symbol["TCS"] * 7

        queued = http.post("/api/data/fetch-batch", json={**batch, "async": True})
        assert queued.status_code == 202 and queued.json()["job_id"]
        job = http.get(f"/api/data/jobs/{queued.json()['job_id']}").json()
        assert job["success"] is True and len(job["items"]) == 2
