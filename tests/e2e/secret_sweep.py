"""Drives a running platform through everything that handles a secret — password logins, a
wrong password, a forged JWT, token refresh, an API key, a cookie session, orders on the paper
and the simulator's Kite account (execution's kiteconnect with kitesim's access token), logout —
recording every answer (status, headers, body) and every /metrics page, then finds any known
secret (or any JWT-shaped string) in what it recorded and in the processes' logs.

Only the answers whose job is to hand a credential out (login, refresh, session, API-key
creation) may carry one; they are recorded as `carriers` and not searched."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import httpx

JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}")
ORDER = {"exchange": "NSE", "symbol": "SBIN", "side": "BUY", "quantity": 1,
         "order_type": "MARKET", "product": "CNC"}


@dataclass
class Sweep:
    secrets: dict[str, str] = field(default_factory=dict)  # value -> what it is
    seen: list[tuple[str, str]] = field(default_factory=list)  # (what, text) to search
    carriers: list[str] = field(default_factory=list)

    def secret(self, value: str, what: str) -> str:
        assert value and len(value) >= 8, f"{what}: a secret too short to search for"
        self.secrets[value] = what
        return value

    def record(self, what: str, r: httpx.Response, *, carrier: bool = False) -> httpx.Response:
        if carrier:
            self.carriers.append(what)
            return r
        head = "\n".join(f"{k}: {v}" for k, v in r.headers.multi_items())
        self.seen.append((f"{what} → {r.status_code}", f"{head}\n\n{r.text}"))
        return r

    def leaks(self, logs: str) -> list[str]:
        """Every (place, secret) found: the logs, every recorded answer and page."""
        found = []
        for place, text in [("logs", logs), *self.seen]:
            for value, what in self.secrets.items():
                if value in text:
                    found.append(f"{what} in {place}")
            for m in JWT_SHAPE.finditer(text):
                found.append(f"JWT-shaped {m.group()[:12]}… in {place}")
        return found


def _login(http: httpx.Client, sweep: Sweep, username: str, password: str) -> dict:
    deadline = time.monotonic() + 30
    while True:  # the gateway's auth store opens in the background: 503 until it has
        r = http.post("/api/v1/auth/login", json={"username": username, "password": password})
        if r.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    sweep.record(f"login {username}", r, carrier=True)
    assert r.status_code == 200, r.text
    body = r.json()
    sweep.secret(body["access_token"], f"{username}'s access JWT")
    sweep.secret(body["refresh_token"], f"{username}'s refresh token")
    return body


def exercise(sweep: Sweep, gateway: str, admin_password: str, metrics: dict[str, str],
             kitesim: str) -> None:
    """Run the requests (see the module docstring) against a serving platform."""
    pw = sweep.secret("trader-pw-SWEEP-4k8q2z", "trader's password")
    wrong = sweep.secret("wrong-pw-SWEEP-7h3m1x", "a wrong password")
    forged = sweep.secret("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.forgedSWEEPsig",
                          "a forged JWT")
    with httpx.Client(base_url=gateway, timeout=30) as http:
        admin = _login(http, sweep, "admin", admin_password)
        as_admin = {"Authorization": f"Bearer {admin['access_token']}"}
        rec = sweep.record
        rec("create user", http.post("/api/v1/users", headers=as_admin, json={
            "username": "sweeper", "password": pw, "role": "trader"}))
        for account in ("PAPER1", "SIM001"):
            r = rec(f"grant {account}", http.post(f"/api/v1/accounts/{account}/grants",
                                                  headers=as_admin, json={"username": "sweeper"}))
            assert r.status_code == 201, r.text
        rec("wrong password", http.post("/api/v1/auth/login",
                                        json={"username": "sweeper", "password": wrong}))
        rec("forged JWT", http.get("/api/v1/auth/me",
                                   headers={"Authorization": f"Bearer {forged}"}))
        trader = _login(http, sweep, "sweeper", pw)
        r = http.post("/api/v1/auth/refresh", json={"refresh_token": trader["refresh_token"]})
        rec("refresh", r, carrier=True)
        assert r.status_code == 200, r.text
        sweep.secret(r.json()["access_token"], "a refreshed access JWT")
        sweep.secret(r.json()["refresh_token"], "a rotated refresh token")
        rec("refresh spent token", http.post("/api/v1/auth/refresh",  # reuse → family revoked
                                             json={"refresh_token": trader["refresh_token"]}))
        trader = _login(http, sweep, "sweeper", pw)
        as_trader = {"Authorization": f"Bearer {trader['access_token']}"}
        r = rec("create API key", http.post("/api/v1/auth/api-keys", headers=as_trader,
                                            json={"name": "sweep"}), carrier=True)
        assert r.status_code == 201, r.text
        key = {"X-API-Key": sweep.secret(r.json()["api_key"], "an API key")}
        rec("me by API key", http.get("/api/v1/auth/me", headers=key))
        rec("API keys", http.get("/api/v1/auth/api-keys", headers=key))
        for i, account in enumerate(("PAPER1", "SIM001")):
            r = rec(f"order {account}", http.post("/api/v1/orders", headers=key, json={
                **ORDER, "account_id": account, "client_order_id": f"sweep-{i}"}))
            assert r.status_code == 201, r.text
            rec(f"orders {account}", http.get("/api/v1/orders", headers=key,
                                              params={"account_id": account}))
            rec(f"positions {account}", http.get("/api/v1/positions", headers=key,
                                                 params={"account_id": account}))
            r = rec(f"account {account}", http.get("/api/v1/account", headers=key,
                                                   params={"account_id": account}))
            assert r.status_code == 200 and not r.json()["unavailable"], r.text
        rec("config", http.get("/api/v1/config", headers=as_admin))
        r = http.post("/api/v1/auth/session", json={"username": "sweeper", "password": pw})
        rec("cookie session", r, carrier=True)
        assert r.status_code == 200, r.text
        for name, value in r.cookies.items():
            sweep.secret(value, f"cookie {name}")
        rec("me by cookie", http.get("/api/v1/auth/me"))
        rec("logout", http.post("/api/v1/auth/logout", headers=as_trader))
        rec("after logout", http.get("/api/v1/auth/me", headers=as_trader))
        rec("openapi", http.get("/openapi.json"))
    for name, url in metrics.items():
        r = sweep.record(f"{name} /metrics", httpx.get(url, timeout=10))
        assert r.status_code == 200, (name, r.status_code)
    r = httpx.get(f"{kitesim}/sim/tokens", timeout=10)
    assert r.status_code == 200, r.text
    issued = r.json()["data"]["tokens"]
    assert len(issued) >= 2, "the services logged in to kitesim (request and access tokens)"
    for token in issued:
        sweep.secret(token, "a Kite token issued by kitesim")
