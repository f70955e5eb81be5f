"""Jobs through the gateway: `DELETE /api/data/jobs/{id}` on a running and on a queued job, and
what the cancel does to the store; `POST /api/data/import-symbols` queueing a real fetch.

kitesim answers slowly here (its latency fault, a real delay on every REST call), so a year of
minute bars — 7 requests of at most 60 days — keeps both of the history service's two workers
busy for seconds while the test looks at and cancels the jobs."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.gateway.kit import kitesim_candles, wait_job

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

YEAR_2024 = {"from_date": "2024-01-01", "to_date": "2024-12-31"}
# a full 2024 of minute bars: 245 regular sessions (see test_data_seed_contract) × 375 bars,
# plus the special sessions: Sat Jan 20 in full (375), the DR drills of Sat Mar 2 and Sat May 18
# (09:15–10:00 and 11:30–12:30: 45 + 60 = 105 each) and Muhurat Nov 1 (18:00–19:00: 60)
# = 91,875 + 375 + 105 + 105 + 60 = 92,520
FULL_YEAR_MINUTES = 245 * 375 + 375 + 2 * 105 + 60


async def poll(http, job_id: str, ok, what: str) -> dict:
    job: dict = {}
    for _ in range(3000):  # bounded: 5 minutes of 0.1 s polls
        job = (await http.get(f"/api/data/jobs/{job_id}")).json()
        if ok(job):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never {what}: {job}")


async def test_cancel_job_when_running_and_queued_stops_them_and_their_fetches(stack) -> None:
    http = stack.http
    stack.sim.admin("faults", {"latency_ms": 1000})
    try:
        running = (await http.post("/api/data/fetch-batch", json={"async": True, "requests": [
            {"symbol": "SBIN", "interval": "minute", **YEAR_2024},
            {"symbol": "ITC", "interval": "minute", **YEAR_2024}]})).json()
        await poll(http, running["job_id"],
                   lambda j: [i["state"] for i in j["items"]] == ["running", "running"],
                   "had both items running")
        # both workers are busy with `running`, so this one waits in the queue
        queued = (await http.post("/api/data/fetch-batch", json={"async": True, "requests": [
            {"symbol": "WIPRO", "interval": "day", **YEAR_2024}]})).json()
        assert queued["state"] == "queued"

        r = await http.delete(f"/api/data/jobs/{queued['job_id']}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["success"], body["state"], body["requests_done"]) == (True, "cancelled", 0)
        assert [i["state"] for i in body["items"]] == ["cancelled"]

        r = await http.delete(f"/api/data/jobs/{running['job_id']}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["state"] == "cancelled"
        assert [i["state"] for i in body["items"]] == ["cancelled", "cancelled"]
        assert body["requests_done"] < body["requests_total"] == 2 * 7
    finally:
        stack.sim.admin("faults", {"latency_ms": 0})

    # cancelling twice is a conflict, not a second cancel
    again = await http.delete(f"/api/data/jobs/{running['job_id']}")
    assert again.status_code == 409 and again.json()["error_type"] == "conflict"
    assert "cancelled" in again.json()["error"]

    # the queue moves on: a job queued after the cancels runs to the end, which needs a worker
    # that has left the cancelled items (a cancel that did not stop them would make one finish
    # its year of minutes first)
    after = (await http.post("/api/data/fetch-batch", json={"requests": [
        {"symbol": "TCS", "interval": "day", "from_date": "2024-12-02",
         "to_date": "2024-12-06"}]})).json()
    assert after["successful"] == 1 and after["results"][0]["records"] == 5  # Mon–Fri

    for job_id in (running["job_id"], queued["job_id"]):
        job = (await http.get(f"/api/data/jobs/{job_id}")).json()
        assert job["state"] == "cancelled"
        assert {i["state"] for i in job["items"]} == {"cancelled"}
    nothing = (await http.get("/api/data/existing-range/NSE/WIPRO/day")).json()
    assert (nothing["bars"], nothing["end_date"]) == (0, None)
    for symbol in ("SBIN", "ITC"):
        part = (await http.get(f"/api/data/existing-range/NSE/{symbol}/minute")).json()
        assert part["bars"] < FULL_YEAR_MINUTES, symbol


@pytest.mark.parametrize(("job_id", "status", "needle"), [
    ("not-a-uuid", 400, "job_id"),
    ("00000000-0000-4000-8000-000000000000", 404, "00000000-0000-4000-8000-000000000000"),
])
async def test_cancel_job_when_id_bad_or_unknown_answers_4xx(stack, job_id, status,
                                                             needle) -> None:
    r = await stack.http.delete(f"/api/data/jobs/{job_id}")
    assert r.status_code == status, r.text
    assert r.json()["success"] is False and needle in r.json()["error"]


async def test_import_symbols_when_valid_file_queues_and_fetches_the_listed_symbols(
    stack,
) -> None:
    upload = "symbol\nHDFCBANK\nBSE,RELIANCE\nNOSUCHCO\n"
    r = await stack.http.post(
        "/api/data/import-symbols", files={"file": ("watchlist.csv", upload.encode())},
        data={"from_date": "2024-12-02", "to_date": "2024-12-06", "interval": "day"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["success"] is True and body["accepted"] == 2
    assert [(x["line"], x["text"]) for x in body["rejected"]] == [(4, "NSE,NOSUCHCO")]
    assert "NOSUCHCO" in body["rejected"][0]["reason"]
    assert [(i["exchange"], i["symbol"], i["interval"], i["date_range"]) for i in body["items"]] \
        == [("NSE", "HDFCBANK", "day", "2024-12-02 to 2024-12-06"),
            ("BSE", "RELIANCE", "day", "2024-12-02 to 2024-12-06")]

    job = await wait_job(stack.http, body["job_id"])
    assert job["state"] == "done"
    # Mon 2 … Fri 6 Dec 2024: five sessions each, as kitesim serves them
    for item, (exchange, symbol) in zip(job["items"], (("NSE", "HDFCBANK"), ("BSE", "RELIANCE")),
                                        strict=True):
        served = kitesim_candles(stack.sim, exchange, symbol, "day", "2024-12-02", "2024-12-06")
        assert item["state"] == "done" and item["rows_stored"] == len(served) == 5
    rng = (await stack.http.get("/api/data/existing-range/BSE/RELIANCE/day")).json()
    assert (rng["start_date"], rng["end_date"], rng["bars"]) == ("2024-12-02", "2024-12-06", 5)


async def test_import_symbols_when_no_line_is_usable_answers_400_and_queues_nothing(
    stack,
) -> None:
    r = await stack.http.post(
        "/api/data/import-symbols", files={"file": ("w.csv", b"NOSUCHCO\nNSE,ALSONOT\n")},
        data={"from_date": "2024-12-02", "to_date": "2024-12-06"})
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("csv:") and "2 lines rejected" in r.json()["error"]
