"""Bad input of any shape to the auth, user, grant and audit routes, signed in as admin and as
no one, gets a 4xx with the error envelope: never a 5xx, never an echo of a password."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.gateway.auth.policy import ROUTE_ACCESS
from services.gateway.auth.principal import Access
from tests.integration.auth.conftest import AuthStack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

NASTY_STRINGS = ["", "a\x00b", "\ud800", "x" * 100_000, "admin' OR '1'='1", "../../etc",
                 "%00", "😀" * 40, " admin "]
NASTY_VALUES: list[Any] = [*NASTY_STRINGS, None, 10**30, -1, 1e308, float("nan"), [], {},
                           {"a": [[[[[]]]]]}, True]
FIELDS = ("username", "password", "role", "refresh_token", "name", "disabled")
AUTH_PATHS = [(m, p) for m, p in ROUTE_ACCESS
              if p.startswith(("/api/v1/auth", "/api/v1/users", "/api/v1/audit"))
              or p.endswith(("/grants", "/grants/{username}"))]
PUBLIC_PATHS = [k for k in AUTH_PATHS if ROUTE_ACCESS[k] == Access.PUBLIC]  # others: 401 first


def _raw(body: Any) -> bytes:
    # json.dumps writes NaN and lone surrogates as the wire would carry them (\ud800 escapes)
    return json.dumps(body).encode()


def _fill(path: str, value: str) -> str:
    for name in ("username", "account_id", "key_id"):
        path = path.replace("{" + name + "}", value)
    return path


async def test_no_5xx_on_nasty_bodies_and_paths(auth_stack: AuthStack) -> None:
    sent = 0
    segments = ("x1", "%00", "%ED%A0%80", "9" * 30)
    for client, paths in ((auth_stack.admin, AUTH_PATHS), (auth_stack.anon, PUBLIC_PATHS)):
        for method, path in paths:
            for i, value in enumerate(NASTY_VALUES):
                for j, body in enumerate([{f: value} for f in FIELDS] + [value]):
                    url = _fill(path, segments[(i + j) % len(segments)])
                    r = await client.request(method, url, content=_raw(body),
                                             headers={"content-type": "application/json"})
                    sent += 1
                    assert r.status_code < 500, (method, url, body, r.status_code, r.text)
                    if r.status_code >= 400:
                        assert r.json()["success"] is False
                    assert "a-long-enough-password" not in r.text
    assert sent > 1500


async def test_no_5xx_on_nasty_params_and_headers(auth_stack: AuthStack) -> None:
    for value in ("\x00", "9" * 40, "-5", "x" * 5000):
        r = await auth_stack.admin.get("/api/v1/audit", params={"before_id": value,
                                                                "actor": value, "limit": value})
        assert 400 <= r.status_code < 500, r.text
    for headers in ({"Authorization": "Bearer " + "a" * 10_000}, {"X-API-Key": "k" * 10_000},
                    {"Cookie": "mandi_session=" + "s" * 4000}, {"Authorization": "Basic xx"},
                    {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."}):
        r = await auth_stack.anon.get("/api/v1/auth/me", headers=headers)
        assert r.status_code == 401, (headers.keys(), r.text)
    r = await auth_stack.anon.post("/api/v1/auth/token", data={"username": "\x00",
                                                               "password": "\x00"})
    assert r.status_code in (400, 401)
