"""Seed 001 (the data-fetcher REST API) called exactly as its examples call it — the same paths,
bodies and query strings — against the real gateway, history service, PostgreSQL and kitesim.

Day bars for 2024: 366 days − 104 weekend days = 262 weekdays, less 17 weekday NSE holidays
(Jan 22, Jan 26, Mar 8, Mar 25, Mar 29, Apr 11, Apr 17, May 1, May 20, Jun 17, Jul 17, Aug 15,
Oct 2, Nov 1, Nov 15, Nov 20, Dec 25) = 245 regular sessions, plus the calendar's 4 special
sessions of 2024 — Sat Jan 20 (a full session), Sat Mar 2 and Sat May 18 (DR drills) and the
Muhurat hour of Fri Nov 1 (a holiday that trades 18:00–19:00) — each a day bar of its own:
245 + 4 = 249 day bars, the first on Mon 2024-01-01 and the last on Tue 2024-12-31.
"""

from __future__ import annotations

import httpx
import pytest

from tests.integration.gateway.kit import kitesim_candles, kitesim_token, wait_job

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SESSIONS_2024 = 249  # 245 + 4, worked in the module docstring
YEAR_2024 = {"from_date": "2024-01-01", "to_date": "2024-12-31"}


async def test_existing_range_when_no_data_answers_the_seeds_nulls_and_message(stack) -> None:
    r = await stack.http.get("/api/data/existing-range/NSE/WIPRO/day")
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "exchange": "NSE", "symbol": "WIPRO", "interval": "day",
                        "start_date": None, "end_date": None, "bars": 0,
                        "message": "No existing data found"}


async def test_existing_range_when_data_ends_2024_12_31_shows_2024_12_31(stack) -> None:
    # the seed's curl example, body for body
    r = await stack.http.post("/api/data/fetch-equity", json={
        "symbol": "RELIANCE", "from_date": "2024-01-01", "to_date": "2024-12-31",
        "interval": "day"})
    assert r.status_code == 200, r.text
    fetched = r.json()
    assert fetched["records"] == SESSIONS_2024
    assert fetched["records"] == len(kitesim_candles(stack.sim, "NSE", "RELIANCE", "day",
                                                     "2024-01-01", "2024-12-31"))
    assert fetched["date_range"] == "2024-01-01 to 2024-12-31"
    # the seed's response fields, all of them
    assert (fetched["success"], fetched["symbol"], fetched["interval"]) == (
        True, "RELIANCE", "day")
    assert isinstance(fetched["elapsed_seconds"], float) and fetched["elapsed_seconds"] >= 0

    rng = await stack.http.get("/api/data/existing-range/NSE/RELIANCE/day")
    assert rng.json() == {"success": True, "exchange": "NSE", "symbol": "RELIANCE",
                          "interval": "day", "start_date": "2024-01-01",
                          "end_date": "2024-12-31", "bars": SESSIONS_2024}
    # nothing of 2025 was stored: the day after to_date is not the user's
    later = await stack.http.get("/api/data/candles/NSE/RELIANCE/day",
                                 params={"from_date": "2025-01-01", "to_date": "2025-01-10"})
    assert later.json()["count"] == 0


async def test_intervals_when_seed_names_5min_15min_are_accepted_everywhere(stack) -> None:
    http = stack.http
    # 09:15–15:30 is 375 minutes: 75 five-minute bars and 25 fifteen-minute bars a session;
    # Mon 2 and Tue 3 Dec 2024 are two sessions
    r = await http.post("/api/data/fetch-equity", json={
        "symbol": "INFY", "from_date": "2024-12-02", "to_date": "2024-12-03", "interval": "5min"})
    assert r.status_code == 200, r.text
    assert (r.json()["interval"], r.json()["records"]) == ("5minute", 2 * 75)

    rng = (await http.get("/api/data/existing-range/NSE/INFY/5min")).json()
    assert (rng["interval"], rng["start_date"], rng["end_date"], rng["bars"]) == (
        "5minute", "2024-12-02", "2024-12-03", 150)
    cov = (await http.get("/api/data/coverage/NSE/INFY/5min",
                          params={"from_date": "2024-12-02", "to_date": "2024-12-03"})).json()
    assert (cov["interval"], cov["bars"], cov["expected_bars"]) == ("5minute", 150, 150)
    cs = (await http.get("/api/data/candles/NSE/INFY/5min", params={
        "from_date": "2024-12-02", "to_date": "2024-12-03", "resample": "15min"})).json()
    assert cs["count"] == 2 * 25
    assert cs["candles"][1]["date"] == "2024-12-02T09:30:00+05:30"
    csv = await http.get("/api/data/export/NSE/INFY/5min", params={
        "from_date": "2024-12-02", "to_date": "2024-12-03", "format": "csv"})
    assert csv.status_code == 200 and len(csv.text.strip().splitlines()) == 1 + 150

    batch = (await http.post("/api/data/fetch-batch", json={"requests": [
        {"segment": "EQUITY", "symbol": "INFY", "from_date": "2024-12-04",
         "to_date": "2024-12-04", "interval": "15min"}]})).json()
    assert (batch["results"][0]["interval"], batch["results"][0]["records"]) == ("15minute", 25)

    gone = (await http.delete("/api/data/candles/NSE/INFY", params={"interval": "5min"})).json()
    assert gone["deleted"] == 150


@pytest.mark.parametrize(("method", "path", "kwargs", "field"), [
    ("post", "/api/data/fetch-equity",
     {"json": {"symbol": "INFY", "interval": "2min", **YEAR_2024}}, "interval"),
    ("get", "/api/data/existing-range/NSE/INFY/2min", {}, "interval"),
    ("get", "/api/data/candles/NSE/INFY/minute",
     {"params": {**YEAR_2024, "resample": "hourly"}}, "resample"),
    ("post", "/api/data/fetch-batch", {"json": {"requests": [
        {"symbol": "INFY", "interval": "2min", **YEAR_2024}]}}, "requests[0].interval"),
])
async def test_intervals_when_unknown_answer_400_naming_field_and_accepted_names(
    stack, method: str, path: str, kwargs: dict, field: str,
) -> None:
    r = await getattr(stack.http, method)(path, **kwargs)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["success"] is False and body["error_type"] == "validation"
    assert body["error"].startswith(f"{field}: ") or f" {field} " in f" {body['error']} "
    assert ("expected one of minute, 3minute, 5minute, 10minute, 15minute, 30minute, 60minute,"
            " day (or 1min, 3min, 5min, 10min, 15min, 30min, 60min)") in body["error"]


async def test_fetch_batch_when_called_as_the_seed_reports_date_range_and_elapsed(stack) -> None:
    # the seed's Python example: two equities, no exchange, 2024 day bars
    body = {"requests": [
        {"segment": "EQUITY", "symbol": "HDFCBANK", **YEAR_2024, "interval": "day"},
        {"segment": "EQUITY", "symbol": "TCS", **YEAR_2024, "interval": "day"}]}
    r = await stack.http.post("/api/data/fetch-batch", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["total"], out["successful"], out["failed"], out["success_rate"]) == (
        2, 2, 0, 100.0)
    for res, symbol in zip(out["results"], ("HDFCBANK", "TCS"), strict=True):
        assert res["success"] is True and res["symbol"] == symbol and res["interval"] == "day"
        assert res["records"] == SESSIONS_2024
        assert res["date_range"] == "2024-01-01 to 2024-12-31"
        assert isinstance(res["elapsed_seconds"], float) and res["elapsed_seconds"] >= 0

    # the same items as an async job: each item carries them too, once it has run
    queued = await stack.http.post("/api/data/fetch-batch", json={**body, "async": True})
    assert queued.status_code == 202, queued.text
    assert [i["date_range"] for i in queued.json()["items"]] == ["2024-01-01 to 2024-12-31"] * 2
    job = await wait_job(stack.http, queued.json()["job_id"])
    assert job["state"] == "done"
    for item in job["items"]:
        assert item["date_range"] == "2024-01-01 to 2024-12-31"
        assert isinstance(item["elapsed_seconds"], float) and item["elapsed_seconds"] >= 0
        assert item["rows_stored"] == 0  # incremental: all 249 bars were stored above


async def test_fetch_batch_when_an_item_is_not_listed_it_alone_fails(stack) -> None:
    # the seed's three-item body; its derivative is one kitesim does not list (NIFTY's
    # 2025-10 contracts expired before kitesim's 2025-11-20)
    seed_body = {"requests": [
        {"segment": "EQUITY", "symbol": "ASIANPAINT", **YEAR_2024, "interval": "day"},
        {"segment": "EQUITY", "symbol": "CIPLA", **YEAR_2024, "interval": "day"},
        {"segment": "DERIVATIVES", "exchange": "NFO", "symbol": "NIFTY25OCT24950CE",
         **YEAR_2024, "interval": "day"},
    ]}
    r = await stack.http.post("/api/data/fetch-batch", json=seed_body)
    assert r.status_code == 200, r.text
    out = r.json()
    # 2 of 3 succeed: 100 × 2 / 3 = 66.67 → 66.7
    assert (out["total"], out["successful"], out["failed"], out["success_rate"]) == (
        3, 2, 1, 66.7)
    assert [r["records"] for r in out["results"]] == [SESSIONS_2024, SESSIONS_2024, 0]
    missing = out["results"][2]
    assert missing["success"] is False and "NIFTY25OCT24950CE" in missing["error"]
    assert missing["date_range"] == "2024-01-01 to 2024-12-31"

    queued = await stack.http.post("/api/data/fetch-batch", json={**seed_body, "async": True})
    assert queued.status_code == 202, queued.text
    assert [i["symbol"] for i in queued.json()["items"]] == ["ASIANPAINT", "CIPLA"]
    assert [(x["index"], x["symbol"]) for x in queued.json()["rejected"]] == [
        (2, "NIFTY25OCT24950CE")]

    none = await stack.http.post("/api/data/fetch-batch", json={
        "requests": seed_body["requests"][2:], "async": True})
    assert none.status_code == 404, none.text
    assert none.json()["error"].startswith("requests[0].symbol: ")


async def test_fetch_batch_when_equity_lacks_exchange_finds_a_bse_only_symbol(stack) -> None:
    # SENSEX is listed on BSE only; fetch-equity finds it, and so must a batch item
    r = await stack.http.post("/api/data/fetch-batch", json={"requests": [
        {"segment": "EQUITY", "symbol": "SENSEX", "from_date": "2024-12-02",
         "to_date": "2024-12-06", "interval": "day"}]})
    assert r.status_code == 200, r.text
    res = r.json()["results"][0]
    # Mon 2 … Fri 6 Dec 2024: five sessions
    assert (res["success"], res["exchange"], res["records"]) == (True, "BSE", 5)


async def test_database_info_when_called_as_the_seed_has_every_seed_field(stack) -> None:
    info = (await stack.http.get("/api/data/database-info/EQUITY")).json()
    for key in ("success", "segment", "file_path", "exists", "size_mb", "exchanges",
                "total_datasets"):
        assert key in info, key
    # bars live in PostgreSQL, not in an HDF5 file
    assert info["file_path"] is None and info["segment"] == "EQUITY"
    assert info["exchanges"] == ["NSE", "BSE"] and info["exists"] is True


async def test_fetch_derivatives_when_called_as_the_seed_answers_the_seeds_fields(stack) -> None:
    nfo = (await stack.http.get("/api/data/instruments/NFO", params={"limit": 5000})).json()
    fut = next(i["tradingsymbol"] for i in nfo["instruments"]
               if i["instrument_type"] == "FUT" and i["underlying"] == "NIFTY")
    # the seed's body with a contract kitesim lists; Mon 3 … Fri 7 Nov 2025 less the
    # Nov 5 holiday (Guru Nanak Jayanti) is four sessions
    r = await stack.http.post("/api/data/fetch-derivatives", json={
        "exchange": "NFO", "symbol": fut, "from_date": "2025-11-03", "to_date": "2025-11-07",
        "interval": "day", "validate": True, "overwrite": False, "incremental": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert {k: body[k] for k in ("success", "exchange", "symbol", "interval", "records",
                                 "date_range")} == {
        "success": True, "exchange": "NFO", "symbol": fut, "interval": "day", "records": 4,
        "date_range": "2025-11-03 to 2025-11-07"}
    assert len(kitesim_candles(stack.sim, "NFO", fut, "day", "2025-11-03", "2025-11-07")) == 4
    assert isinstance(body["elapsed_seconds"], float)


async def test_fetch_equity_when_async_queues_a_job_whose_item_shows_the_seed_fields(
    stack,
) -> None:
    r = await stack.http.post("/api/data/fetch-equity", json={
        "symbol": "ITC", "exchange": "NSE", "from_date": "2024-12-09", "to_date": "2024-12-10",
        "interval": "15min", "async": True})
    assert r.status_code == 202, r.text
    assert r.json()["kind"] == "batch" and len(r.json()["items"]) == 1
    job = await wait_job(stack.http, r.json()["job_id"])
    (item,) = job["items"]
    # Mon 9 and Tue 10 Dec 2024: 2 sessions × 25 fifteen-minute bars
    assert (item["state"], item["interval"], item["rows_stored"], item["date_range"]) == (
        "done", "15minute", 50, "2024-12-09 to 2024-12-10")
    assert item["elapsed_seconds"] >= 0


SEED_INSTRUMENT_FIELDS = {"instrument_token", "exchange_token", "tradingsymbol", "name",
                          "last_price", "expiry", "strike", "tick_size", "lot_size",
                          "instrument_type", "segment", "exchange"}


async def test_instruments_when_called_as_the_seed_answers_ten_with_the_12_fields(stack) -> None:
    # the seed's example: GET /api/data/instruments/NSE?limit=10
    r = await stack.http.get("/api/data/instruments/NSE?limit=10")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["success"], body["exchange"], body["count"], len(body["instruments"])) == (
        True, "NSE", 10, 10)
    assert all(SEED_INSTRUMENT_FIELDS <= i.keys() and i["exchange"] == "NSE"
               for i in body["instruments"])
    refreshed = await stack.http.get("/api/data/instruments/NSE?force_refresh=true&limit=10")
    assert refreshed.status_code == 200 and refreshed.json()["count"] == 10
    reliance = (await stack.http.get("/api/data/lookup/NSE/RELIANCE")).json()
    assert reliance["instrument_token"] == kitesim_token(stack.sim, "NSE", "RELIANCE")


async def test_errors_when_not_signed_in_are_the_seeds_auth_envelope(stack) -> None:
    # the seed's envelope {success: false, error, error_type}; "auth" for 401 (an unexpected
    # failure is "unknown": test_gateway_errors; a backend or Kite failure is "api", 503)
    async with httpx.AsyncClient(base_url=str(stack.http.base_url), timeout=30) as anonymous:
        r = await anonymous.get("/api/data/database-info/EQUITY")
    assert r.status_code == 401
    assert r.json().keys() == {"success", "error", "error_type"}
    assert (r.json()["success"], r.json()["error_type"]) == (False, "auth")
