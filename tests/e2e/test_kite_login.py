"""The trader's daily Kite login with every part its own process (kitesim, history, gateway):
the gateway's login redirect, kitesim's login page, the callback; history's next fetch uses the
new token without a restart; Kite's 06:00 expiry shows `login needed` (and history does not log
in to kitesim behind the trader's back); a second login and history fetches again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from mandi.testing.gateway_auth import GatewayLogin
from mandi.testing.kitesim import KitesimServer, free_port, kitesim_process
from mandi.testing.pg import fresh_database
from mandi.testing.services import ServiceProcess, services_together

pytestmark = pytest.mark.e2e
PASSWORD = "a-long-enough-password"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[str, KitesimServer, ServiceProcess, ServiceProcess]]:
    log_dir: Path = tmp_path_factory.mktemp("logs")
    loop = asyncio.new_event_loop()
    db = fresh_database()
    dsn = loop.run_until_complete(db.__aenter__())
    try:
        with kitesim_process("--start", "2026-03-02T15:45:00+05:30", seed=12) as sim:
            env = {"MANDI_PG_DSN": dsn, "MANDI_KITE_ROOT": sim.url,
                   "MANDI_KITE_WS_ROOT": sim.ws_url, "MANDI_CLOCK": "sim",
                   "MANDI_REDIS_PREFIX": f"mandi_test:{uuid.uuid4().hex[:12]}:kl",
                   "MANDI_HISTORY_ADDR": f"127.0.0.1:{free_port()}",
                   "MANDI_KITE_API_KEY": sim.api_key}
            port = free_port()
            with services_together([("history", env), (
                    "gateway", {**env, "MANDI_GATEWAY_PORT": str(port)})],
                    log_dir) as (history, gateway):
                yield f"http://127.0.0.1:{port}", sim, history, gateway
    finally:
        loop.run_until_complete(db.__aexit__(None, None, None))
        loop.close()


def kite_login(trader: httpx.Client, anon: httpx.Client) -> httpx.Response:
    """The browser: gateway login → kitesim's login page → the callback with Kite's query."""
    r = trader.get("/api/v1/kite/login", params={"account_id": "ZS0001"})
    assert r.status_code == 302, r.text
    kite = httpx.get(r.headers["location"], timeout=10)
    assert kite.status_code == 302
    query = parse_qs(urlparse(kite.headers["location"]).query)
    return anon.get("/api/v1/kite/callback", params={k: v[0] for k, v in query.items()})


def fetch(http: httpx.Client, month: str) -> httpx.Response:
    return http.post("/api/data/fetch-equity", json={
        "symbol": "INFY", "exchange": "NSE", "interval": "day",
        "from_date": f"2025-{month}-01", "to_date": f"2025-{month}-28"})


def test_kite_login_reaches_history_without_restart_and_expiry_needs_a_new_one(stack) -> None:
    base, sim, history, gateway = stack
    with httpx.Client(base_url=base, timeout=60, auth=GatewayLogin()) as admin, \
            httpx.Client(base_url=base, timeout=60) as anon:
        assert admin.post("/api/v1/users", json={"username": "trader", "password": PASSWORD,
                                                 "role": "trader"}).status_code == 201
        assert admin.post("/api/v1/accounts/ZS0001/grants",
                          json={"username": "trader"}).status_code == 201
        with httpx.Client(base_url=base, timeout=60,
                          auth=GatewayLogin("trader", PASSWORD)) as trader:
            r = kite_login(trader, anon)
            assert r.status_code == 200 and r.json()["state"] == "active", r.text
            r = fetch(trader, "10")
            assert r.status_code == 200 and r.json()["records"] > 10, r.text
            assert "took the Kite session of login 1" in history.log()

            sim.admin("ws/fault", {"expire_tokens": True})  # Kite's 06:00 expiry
            r = fetch(trader, "11")
            # 409, not 401: the trader's own sign-in is fine, the broker session is not
            assert r.status_code == 409 and "Kite login needed" in r.json()["error"], r.text
            assert r.json()["error_type"] == "kite_login_needed"
            r = trader.get("/api/v1/kite/session", params={"account_id": "ZS0001"})
            assert r.json()["state"] == "login_needed", r.text
            assert r.json()["login_url"] == "/api/v1/kite/login?account_id=ZS0001"

            r = kite_login(trader, anon)
            assert r.status_code == 200 and r.json()["state"] == "active", r.text
            r = fetch(trader, "11")
            assert r.status_code == 200 and r.json()["records"] > 10, r.text
            assert "took the Kite session of login 2" in history.log()
    for svc in (history, gateway):
        text = svc.log()
        assert "request_token=" not in text.replace("request_token=[REDACTED]", "")
        assert sim.api_secret not in text
