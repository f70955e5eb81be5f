"""Every route of the app's OpenAPI document, generated from it (a route added later is covered
without touching this file): no credential → 401 with the error envelope; a viewer on a
trading or admin route → 403 (also when it sends `X-Mandi-Role: admin`); a trader naming an
account another user holds → 404, wherever the route takes `account_id` (path, query, JSON body,
form); and a caller who may use a route is not refused by the guard. Routes missing from
auth/policy.ROUTE_ACCESS fail here first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from services.gateway.auth.policy import ROUTE_ACCESS, access_of
from services.gateway.auth.principal import Access
from tests.integration.auth.conftest import ACC_A, ACC_B, AuthStack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
OPENAPI_PAGES = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    params: dict[str, Any]  # the operation's parameter definitions, by name
    body: str  # "json", "form" or ""
    body_has_account: bool

    @property
    def takes_account(self) -> bool:
        return "account_id" in self.params or self.body_has_account

    def request(self, account: str, **headers: str) -> dict[str, Any]:
        """httpx.request kwargs naming `account` wherever the operation takes one."""
        path = self.path
        for name, p in self.params.items():
            if p["in"] == "path":
                value = account if name == "account_id" else (
                    "1" if p.get("schema", {}).get("type") == "integer" else "x1")
                path = path.replace("{" + name + "}", value)
        query = {"account_id": account} if self.params.get("account_id", {}).get("in") == \
            "query" else {}
        kw: dict[str, Any] = {"method": self.method, "url": path, "params": query,
                              "headers": headers}
        if self.body == "json":
            kw["json"] = {"account_id": account} if self.body_has_account else {}
        elif self.body == "form":
            kw["data"] = {"account_id": account} if self.body_has_account else {}
            kw["files"] = {"file": ("x.csv", b"a,b\n")}
        return kw


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for alt in schema.get("anyOf", []):  # an optional body: Model | None
        if "$ref" in alt:
            return _resolve(doc, alt)
    return schema


def operations(doc: dict[str, Any]) -> list[Op]:
    ops = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            params = {p["name"]: p for p in op.get("parameters", [])}
            content = op.get("requestBody", {}).get("content", {})
            body, has_account = "", False
            for ctype, kind in (("application/json", "json"), ("multipart/form-data", "form"),
                                ("application/x-www-form-urlencoded", "form")):
                if ctype in content:
                    schema = _resolve(doc, content[ctype].get("schema", {}))
                    body, has_account = kind, "account_id" in schema.get("properties", {})
                    break
            ops.append(Op(method.upper(), path, params, body, has_account))
    return ops


async def _doc(stack: AuthStack) -> dict[str, Any]:
    r = await stack.anon.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


async def test_every_route_is_classified(auth_stack: AuthStack) -> None:
    routes = {(m, c.path_format) for c in iter_route_contexts(auth_stack.app.routes)
              for m in (c.methods or {"WS"}) if m != "HEAD" and c.path_format not in OPENAPI_PAGES}
    unclassified = sorted(routes - ROUTE_ACCESS.keys())
    assert unclassified == [], f"add these to services/gateway/auth/policy.py: {unclassified}"
    ops = operations(await _doc(auth_stack))
    http_routes = {r for r in routes if r[0] != "WS"}  # OpenAPI has no WebSockets
    assert len(ops) == len(http_routes) >= 80  # the document lists every HTTP route


async def test_no_credential_is_401_with_envelope(auth_stack: AuthStack) -> None:
    checked = 0
    for op in operations(await _doc(auth_stack)):
        if access_of(op.method, op.path) == Access.PUBLIC:
            continue
        r = await auth_stack.anon.request(**op.request(ACC_A))
        assert r.status_code == 401, (op.method, op.path, r.status_code, r.text)
        assert r.json() == {"success": False, "error": r.json()["error"],
                            "error_type": "auth"}, (op.method, op.path)
        checked += 1
    assert checked >= 80


async def test_bad_credentials_are_401(auth_stack: AuthStack) -> None:
    for headers in ({"Authorization": "Bearer not.a.jwt"}, {"X-API-Key": "mk_nope"},
                    {"Cookie": "mandi_session=nope"}):
        r = await auth_stack.anon.get("/api/v1/auth/me", headers=headers)
        assert r.status_code == 401 and r.json()["error_type"] == "auth", (headers, r.text)


async def test_viewer_on_trade_and_admin_routes_is_403(auth_stack: AuthStack) -> None:
    viewer = auth_stack.users["viewer_a"]
    refused = 0
    for op in operations(await _doc(auth_stack)):
        if access_of(op.method, op.path) < Access.TRADE:
            continue
        r = await viewer.request(**op.request(ACC_A, **{"X-Mandi-Role": "admin"}))
        assert r.status_code == 403, (op.method, op.path, r.status_code, r.text)
        assert r.json()["error_type"] == "forbidden"
        refused += 1
    assert refused >= 35


async def test_trader_on_admin_routes_is_403(auth_stack: AuthStack) -> None:
    trader = auth_stack.users["trader_a"]
    for op in operations(await _doc(auth_stack)):
        if access_of(op.method, op.path) == Access.ADMIN:
            r = await trader.request(**op.request(ACC_A))
            assert r.status_code == 403, (op.method, op.path, r.status_code, r.text)


async def test_naming_another_users_account_is_404(auth_stack: AuthStack) -> None:
    scoped = 0
    for who in ("viewer_a", "trader_a"):
        client = auth_stack.users[who]
        level = Access.READ if who == "viewer_a" else Access.TRADE
        for op in operations(await _doc(auth_stack)):
            if not op.takes_account or access_of(op.method, op.path) > level:
                continue
            r = await client.request(**op.request(ACC_B))
            assert r.status_code == 404, (who, op.method, op.path, r.status_code, r.text)
            assert r.json() == {"success": False, "error": f"account_id: no account {ACC_B!r}",
                                "error_type": "not_found", "field": "account_id"} or \
                r.json()["error"] == f"no account {ACC_B!r}", r.text
            scoped += 1
    assert scoped >= 25  # orders, positions, GTTs, risk, P&L, dashboards, bots, ...


async def test_allowed_callers_pass_the_guard(auth_stack: AuthStack) -> None:
    """The other side of the matrix: on its own account, a role the route admits is never
    refused with 401 or 403 by the guard (the backends are absent, so 503 or a 4xx of the
    route's own is fine)."""
    for who, level in (("viewer_a", Access.READ), ("trader_a", Access.TRADE)):
        client = auth_stack.users[who]
        for op in operations(await _doc(auth_stack)):
            if access_of(op.method, op.path) != level or op.path.endswith("/logout"):
                continue
            if op.path == "/api/v1/strategy/validate":  # custom code: the service decides
                continue
            r = await client.request(**op.request(ACC_A))
            assert r.status_code not in (401, 403), (who, op.method, op.path, r.text)
            assert r.status_code < 500 or r.status_code == 503, (op.method, op.path, r.text)


async def test_unknown_routes_still_404(auth_stack: AuthStack) -> None:
    r = await auth_stack.anon.get("/api/v1/nothing-here")
    assert r.status_code in (401, 404)
    assert isinstance(r.json()["error"], str)
    r = await auth_stack.admin.get("/api/v1/nothing-here")
    assert r.status_code == 404


async def test_policy_table_only_names_levels() -> None:
    assert {type(v) for v in ROUTE_ACCESS.values()} == {Access}
    assert all(m in {"GET", "POST", "PUT", "PATCH", "DELETE", "WS"} for m, _ in ROUTE_ACCESS)


async def test_public_routes_need_no_credential(auth_stack: AuthStack) -> None:
    assert (await auth_stack.anon.get("/healthz")).status_code == 200
    r = await auth_stack.anon.post("/api/v1/auth/login", json={"username": "nobody_x",
                                                               "password": "wrong-password"})
    assert r.status_code == 401 and r.json()["error"] == "wrong username or password"



WS_PARAMS = {"symbol": "NSE:INFY", "job_id": "00000000-0000-4000-8000-000000000000",
             "backtest_id": "x1"}


async def test_websocket_routes_refuse_no_credential_and_another_users_account(
        auth_stack: AuthStack) -> None:
    """Every /ws route: no credential closes with 4401; a trader naming an account another
    user holds, 4404 — before any backend is asked (they point at nothing here)."""
    import websockets

    ws_routes = sorted(c.path_format for c in iter_route_contexts(auth_stack.app.routes)
                       if not c.methods)
    assert len(ws_routes) >= 8
    token = auth_stack.users["trader_a"].auth.token  # type: ignore[attr-defined]
    if token is None:  # log in once through the client's auth
        await auth_stack.users["trader_a"].get("/api/v1/auth/me")
        token = auth_stack.users["trader_a"].auth.token  # type: ignore[attr-defined]
    base = auth_stack.url.replace("http://", "ws://")
    for path in ws_routes:
        url = base + path.format(**WS_PARAMS)
        for query, code in (("", 4401), (f"?token={token}&account_id={ACC_B}", 4404)):
            try:
                async with websockets.connect(url + query) as ws:
                    await ws.recv()
                got = None
            except websockets.ConnectionClosed as exc:
                got = exc.rcvd.code if exc.rcvd else None
            assert got == code, (path, query[:7], got)
