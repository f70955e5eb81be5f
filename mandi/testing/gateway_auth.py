"""Signing test clients in to the gateway.

Test stacks start the gateway with `ADMIN_ENV` (its first-run `admin` gets TEST_ADMIN_PASSWORD)
and give their httpx client `auth=GatewayLogin()`: the first request logs in and every request
carries the bearer token (renewed on a 401). A request that sets its own `Authorization` or
`X-API-Key` header is sent as it is, so a test can act as someone else, or as no one, on the same
client. Apps driven without their lifespan (httpx.ASGITransport) have no auth state: `trust`
makes every request arrive as the given principal instead.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from fastapi import FastAPI

TEST_ADMIN_PASSWORD = "test-admin-password-not-secret"
ADMIN_ENV = {"MANDI_ADMIN_PASSWORD": TEST_ADMIN_PASSWORD}
LOGIN_PATH = "/api/v1/auth/login"


class GatewayLogin(httpx.Auth):
    requires_response_body = True

    def __init__(self, username: str = "admin", password: str = TEST_ADMIN_PASSWORD) -> None:
        self.username, self.password = username, password
        self.token: str | None = None

    def _login(self, request: httpx.Request) -> httpx.Request:
        return httpx.Request("POST", request.url.copy_with(path=LOGIN_PATH, query=None),
                             json={"username": self.username, "password": self.password})

    def _take(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise RuntimeError(f"test login as {self.username!r} failed: "
                               f"{response.status_code} {response.text}")
        self.token = response.json()["access_token"]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" in request.headers or "x-api-key" in request.headers:
            yield request
            return
        if self.token is None:
            self._take((yield self._login(request)))
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:  # expired: once more with a fresh token
            self._take((yield self._login(request)))
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


def bearer(http: httpx.Client, username: str, password: str,
           wait_s: float = 30.0) -> dict[str, str]:
    """Log in over `http` (a client on a running gateway); its Authorization header. A gateway
    just started opens its auth store in the background and answers 503 until it has: that is
    waited out for up to `wait_s`, any other refusal raises."""
    deadline = time.monotonic() + wait_s
    while True:
        r = http.post(LOGIN_PATH, json={"username": username, "password": password})
        if r.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def trust(app: FastAPI, username: str = "admin", role: str = "admin",
          accounts: frozenset[str] = frozenset()) -> Any:
    """Admit every request to `app` as this principal (no credential, role or account check);
    returns the Principal."""
    from services.gateway.auth.enforce import guard  # the gateway only where a test uses it
    from services.gateway.auth.principal import Principal

    who = Principal(username, role, accounts, "test")
    app.dependency_overrides[guard] = lambda: who
    return who
