"""Seed 002's REST calls on the real gateway (uvicorn, lifespan, PostgreSQL) with the history
service and kitesim: watchlist, config, symbols, plus seed 001's jobs list; called as the seed
writes them, by the first-run admin and by a viewer holding one account."""

from __future__ import annotations

import logging

import httpx
import pytest
import pytest_asyncio

from mandi.testing.gateway_auth import GatewayLogin
from tests.integration.gateway.kit import times_not_utc

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
PASSWORD = "a-long-enough-password"
DAYS = {"from_date": "2024-12-02", "to_date": "2024-12-06"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def viewer(stack) -> httpx.AsyncClient:
    """A viewer holding account ACC_V1 only."""
    r = await stack.http.post("/api/v1/users", json={"username": "viewer1", "password": PASSWORD,
                                                     "role": "viewer"})
    assert r.status_code == 201, r.text
    r = await stack.http.post("/api/v1/accounts/ACC_V1/grants", json={"username": "viewer1"})
    assert r.status_code == 201, r.text
    async with httpx.AsyncClient(base_url=str(stack.http.base_url), timeout=60,
                                 auth=GatewayLogin("viewer1", PASSWORD)) as client:
        yield client


def _bad(r: httpx.Response, field: str, status: int = 400) -> None:
    assert r.status_code == status, r.text
    assert r.json()["success"] is False and field in r.json()["error"], r.text


# --- watchlist -------------------------------------------------------------------------------
async def test_watchlist_add_remove_are_idempotent_and_per_user(stack, viewer) -> None:
    http = stack.http
    r = await http.post("/api/v1/watchlist/add", json={"symbol": "NSE:INFY"})
    assert r.status_code == 200, r.text
    assert r.json()["changed"] is True and r.json()["symbols"] == ["NSE:INFY"]
    again = await http.post("/api/v1/watchlist/add", json={"symbol": "nse:infy"})
    assert again.json()["changed"] is False and again.json()["symbols"] == ["NSE:INFY"]
    await http.post("/api/v1/watchlist/add", json={"symbol": "TCS"})  # bare: NSE
    got = (await http.get("/api/v1/watchlist")).json()
    assert got["symbols"] == ["NSE:INFY", "NSE:TCS"] and got["count"] == 2
    assert (await viewer.get("/api/v1/watchlist")).json()["symbols"] == []  # another user's
    r = await http.post("/api/v1/watchlist/remove", json={"symbol": "NSE:INFY"})
    assert r.json()["changed"] is True and r.json()["symbols"] == ["NSE:TCS"]
    r = await http.post("/api/v1/watchlist/remove", json={"symbol": "NSE:INFY"})
    assert r.status_code == 200 and r.json()["changed"] is False


async def test_watchlist_put_replaces_in_order_without_duplicates(stack, viewer) -> None:
    r = await viewer.put("/api/v1/watchlist",
                         json={"symbols": ["NSE:SBIN", "BSE:INFY", "NSE:SBIN", "ITC"]})
    assert r.status_code == 200, r.text
    assert r.json()["symbols"] == ["NSE:SBIN", "BSE:INFY", "NSE:ITC"]
    r = await viewer.put("/api/v1/watchlist", json={"symbols": []})
    assert r.json()["symbols"] == []


async def test_watchlist_bad_input_is_400_naming_the_field(stack) -> None:
    http = stack.http
    before = (await http.get("/api/v1/watchlist")).json()["symbols"]
    _bad(await http.post("/api/v1/watchlist/add", json={"symbol": "NSE:NOSUCHSCRIP"}), "symbol")
    _bad(await http.post("/api/v1/watchlist/add", json={"symbol": "XYZ:INFY"}), "symbol")
    _bad(await http.post("/api/v1/watchlist/add", json={"symbol": ""}), "symbol")
    _bad(await http.post("/api/v1/watchlist/add", json={"ticker": "NSE:INFY"}), "ticker")
    _bad(await http.put("/api/v1/watchlist", json={"symbols": ["NSE:INFY", "NSE:NOPE99"]}),
         "symbols.1")
    _bad(await http.put("/api/v1/watchlist", json={"symbols": ["NSE:INFY"] * 201}), "symbols")
    assert (await http.get("/api/v1/watchlist")).json()["symbols"] == before  # nothing stored


# --- symbols ---------------------------------------------------------------------------------
async def test_symbols_autocomplete_prefix_first_and_cached(stack) -> None:
    r = await stack.http.get("/api/v1/symbols", params={"q": "inf", "limit": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["symbols"][0]["symbol"] == "NSE:INFY" and body["count"] <= 5
    assert {"symbol", "exchange", "tradingsymbol", "name", "instrument_token",
            "lot_size", "tick_size"} <= set(body["symbols"][0])
    loads = stack.app.state.symbols.loads
    bse = (await stack.http.get("/api/v1/symbols", params={"q": "INFY", "exchange": "bse"}))
    assert [s["symbol"] for s in bse.json()["symbols"]][:1] == ["BSE:INFY"]
    await stack.http.get("/api/v1/symbols", params={"q": "TC"})
    await stack.http.get("/api/v1/symbols", params={"q": "TCS", "exchange": "BSE"})
    assert stack.app.state.symbols.loads == loads  # NSE and BSE already held: no reload
    _bad(await stack.http.get("/api/v1/symbols", params={"exchange": "XYZ"}), "exchange")
    _bad(await stack.http.get("/api/v1/symbols", params={"limit": 0}), "limit")


# --- jobs ------------------------------------------------------------------------------------
async def test_jobs_list_filters_by_state_and_pages(stack) -> None:
    http = stack.http
    ids = []
    for sym in ("HDFCBANK", "ICICIBANK"):
        r = await http.post("/api/data/fetch-batch", json={"requests": [
            {"symbol": sym, "interval": "day", **DAYS}]})
        assert r.status_code == 200 and r.json()["successful"] == 1, r.text
        ids.append(r.json()["job_id"])
    done = (await http.get("/api/data/jobs", params={"state": "done", "limit": 100})).json()
    listed = [j["job_id"] for j in done["jobs"]]
    assert set(ids) <= set(listed) and all(j["state"] == "done" for j in done["jobs"])
    assert listed.index(ids[1]) < listed.index(ids[0])  # newest first
    assert done["jobs"][0]["created_at"] and done["total"] >= 2
    failed = (await http.get("/api/data/jobs", params={"state": "failed"})).json()
    assert not set(ids) & {j["job_id"] for j in failed["jobs"]}
    first = (await http.get("/api/data/jobs", params={"limit": 1})).json()
    assert first["count"] == 1 and first["next_page_token"]
    second = (await http.get("/api/data/jobs", params={
        "limit": 1, "page_token": first["next_page_token"]})).json()
    assert second["jobs"][0]["job_id"] != first["jobs"][0]["job_id"]
    _bad(await http.get("/api/data/jobs", params={"state": "sleeping"}), "state")
    _bad(await http.get("/api/data/jobs", params={"limit": 1000}), "limit")
    _bad(await http.get("/api/data/jobs", params={"page_token": "abc"}), "page_token")


# --- config ----------------------------------------------------------------------------------
async def test_config_get_redacts_every_secret(stack, viewer) -> None:
    settings = stack.app.state.runtime.settings
    for client in (stack.http, viewer):
        r = await client.get("/api/v1/config")
        assert r.status_code == 200, r.text
        text = r.text
        for secret in settings.secret_values():
            assert secret not in text
        body = r.json()
        assert body["platform"]["kite_api_secret"] == "<redacted>"
        assert body["platform"]["admin_password"] == "<redacted>"
        assert body["platform"]["gateway_port"] == settings.gateway_port
        assert set(body["runtime_changeable"]) == {"log_level", "gateway_rate_user",
                                                   "gateway_rate_ip"}


async def test_config_put_platform_admin_only_applied_and_audited(stack, viewer) -> None:
    http = stack.http
    root = logging.getLogger()
    old_level = root.level
    try:
        r = await http.put("/api/v1/config", json={"platform": {
            "log_level": "warning", "gateway_rate_user": "500/1,20000/60"}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["platform"]["log_level"] == "WARNING"
        assert body["platform"]["gateway_rate_user"] == "500/1,20000/60"
        assert body["overrides"]["log_level"]["updated_by"] == "admin"
        assert root.level == logging.WARNING  # applied in this process at once
        limits = stack.app.state.auth.limits
        assert limits.per_user == ((500, 1.0), (20000, 60.0))
        _bad(await viewer.put("/api/v1/config", json={"platform": {"log_level": "ERROR"}}),
             "admin", 403)
        _bad(await http.put("/api/v1/config", json={"platform": {"no_such_thing": "1"}}),
             "no_such_thing")
        _bad(await http.put("/api/v1/config", json={"platform": {"pg_dsn": "postgresql://x"}}),
             "needs a restart")
        _bad(await http.put("/api/v1/config", json={"platform": {"jwt_secret": "x" * 40}}),
             "needs a restart")
        _bad(await http.put("/api/v1/config", json={"platform": {"log_level": "LOUD"}}),
             "log_level")
        _bad(await http.put("/api/v1/config", json={"everything": {}}), "everything")
        after = (await http.get("/api/v1/config")).json()["platform"]
        assert after["log_level"] == "WARNING"  # refused requests changed nothing
        audit = (await http.get("/api/v1/audit", params={"action": "config.update"})).json()
        entries = [e for e in audit["entries"] if e["action"] == "config.update"]
        assert entries and entries[0]["detail"]["platform"]["log_level"]["new"] == "warning"
    finally:
        await http.put("/api/v1/config", json={"platform": {
            "log_level": logging.getLevelName(old_level) if old_level else "INFO",
            "gateway_rate_user": "50/1,2000/60"}})
        root.setLevel(old_level)


async def test_config_put_user_preferences_are_own_and_validated(stack, viewer) -> None:
    r = await viewer.put("/api/v1/config", json={"user": {
        "theme": "navy", "default_account": "ACC_V1", "default_interval": "5min"}})
    assert r.status_code == 200, r.text
    assert r.json()["user"] == {"theme": "navy", "default_account": "ACC_V1",
                                "default_interval": "5minute"}
    r = await viewer.put("/api/v1/config", json={"user": {"theme": None, "page_size": 50}})
    assert r.json()["user"] == {"default_account": "ACC_V1", "default_interval": "5minute",
                                "page_size": 50}
    assert (await stack.http.get("/api/v1/config")).json()["user"] == {}  # admin's own
    _bad(await viewer.put("/api/v1/config", json={"user": {"default_account": "ACC_OTHER"}}),
         "ACC_OTHER", 404)
    _bad(await viewer.put("/api/v1/config", json={"user": {"colour": "red"}}), "colour")
    _bad(await viewer.put("/api/v1/config", json={"user": {"theme": "pink"}}), "theme")
    _bad(await viewer.put("/api/v1/config", json={"user": {"default_exchange": "XYZ"}}),
         "default_exchange")
    _bad(await viewer.put("/api/v1/config", json={"user": {"default_interval": "7min"}}),
         "default_interval")


# --- account snapshot scoping (the guard, before any backend is asked) -----------------------
async def test_account_snapshot_of_an_account_not_held_is_404(viewer) -> None:
    _bad(await viewer.get("/api/v1/account", params={"account_id": "ACC_OTHER"}), "account", 404)
    _bad(await viewer.get("/api/v1/account"), "account_id")


# --- seed 002: "all timestamps are ISO-8601 strings in UTC" ------------------------------------
async def test_timestamps_of_watchlist_config_symbols_jobs_are_iso_utc(stack) -> None:
    http = stack.http
    await http.post("/api/v1/watchlist/add", json={"symbol": "NSE:SBIN"})
    # a job of its own: under xdist the module's other tests may run on another worker
    r = await http.post("/api/data/fetch-batch", json={"requests": [
        {"symbol": "SBIN", "interval": "day", **DAYS}]})
    assert r.status_code == 200, r.text
    answers = {path: (await http.get(path)).json() for path in (
        "/api/v1/watchlist", "/api/v1/config", "/api/v1/symbols?q=SB", "/api/data/jobs",
        "/api/v1/logs")}
    assert answers["/api/v1/watchlist"]["symbols"]  # something to look at
    stamped = [p for p, a in answers.items() if "+00:00" in str(a)]
    # symbols' cached_at, the job's times, the watchlist's added_at
    assert {"/api/v1/symbols?q=SB", "/api/data/jobs", "/api/v1/watchlist"} <= set(stamped)
    assert {p: times_not_utc(a) for p, a in answers.items()} == {p: [] for p in answers}
