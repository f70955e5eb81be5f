"""Sign-in and credentials against the real gateway, PostgreSQL and Redis: tokens, refresh
rotation and reuse detection, logout, the OAuth2 form flow, API keys, the cookie session with
CSRF, users and grants, throttling and the audit log."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from mandi.platform.redis import create_redis
from tests.integration.auth.conftest import ACC_A, PASSWORD, AuthStack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def _new_user(stack: AuthStack, name: str, role: str = "trader") -> None:
    r = await stack.admin.post("/api/v1/users", json={"username": name, "password": PASSWORD,
                                                      "role": role})
    assert r.status_code == 201, r.text


async def _login(stack: AuthStack, name: str, password: str = PASSWORD) -> httpx.Response:
    return await stack.anon.post("/api/v1/auth/login",
                                 json={"username": name, "password": password})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_login_returns_bearer_pair_and_me_names_role_and_accounts(
        auth_stack: AuthStack) -> None:
    r = await _login(auth_stack, "trader_a")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["access_token"].count(".") == 2 and body["refresh_token"]
    me = await auth_stack.anon.get("/api/v1/auth/me", headers=_bearer(body["access_token"]))
    assert me.json() == {"success": True, "username": "trader_a", "role": "trader",
                         "accounts": [ACC_A], "all_accounts": False, "via": "bearer"}


async def test_wrong_password_unknown_user_and_disabled_user_all_401(
        auth_stack: AuthStack) -> None:
    await _new_user(auth_stack, "soon_off")
    r = await auth_stack.admin.patch("/api/v1/users/soon_off", json={"disabled": True})
    assert r.status_code == 200 and r.json()["user"]["disabled"] is True
    for name, pw in (("trader_a", "not-the-password"), ("no_such_user", PASSWORD),
                     ("soon_off", PASSWORD)):
        r = await _login(auth_stack, name, pw)
        assert r.status_code == 401, (name, r.text)
        assert r.json()["error"] == "wrong username or password"
        assert pw not in r.text


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(
        auth_stack: AuthStack) -> None:
    first = (await _login(auth_stack, "trader_a")).json()
    r = await auth_stack.anon.post("/api/v1/auth/refresh",
                                   json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    me = await auth_stack.anon.get("/api/v1/auth/me", headers=_bearer(second["access_token"]))
    assert me.status_code == 200
    # the spent token presented again: refused, and the whole family with it
    r = await auth_stack.anon.post("/api/v1/auth/refresh",
                                   json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401 and "already used" in r.json()["error"]
    r = await auth_stack.anon.post("/api/v1/auth/refresh",
                                   json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401
    me = await auth_stack.anon.get("/api/v1/auth/me", headers=_bearer(second["access_token"]))
    assert me.status_code == 401


async def test_logout_revokes_access_and_refresh(auth_stack: AuthStack) -> None:
    pair = (await _login(auth_stack, "viewer_a")).json()
    r = await auth_stack.anon.post("/api/v1/auth/logout", headers=_bearer(pair["access_token"]),
                                   json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 200 and r.json()["revoked"] == 1
    me = await auth_stack.anon.get("/api/v1/auth/me", headers=_bearer(pair["access_token"]))
    assert me.status_code == 401
    r = await auth_stack.anon.post("/api/v1/auth/refresh",
                                   json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 401


async def test_oauth2_password_form_flow(auth_stack: AuthStack) -> None:
    doc = (await auth_stack.anon.get("/openapi.json")).json()
    flow = doc["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]
    assert flow["tokenUrl"] == "/api/v1/auth/token"
    r = await auth_stack.anon.post(flow["tokenUrl"], data={"username": "viewer_a",
                                                           "password": PASSWORD})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    me = await auth_stack.anon.get("/api/v1/auth/me", headers=_bearer(r.json()["access_token"]))
    assert me.json()["username"] == "viewer_a"
    r = await auth_stack.anon.post(flow["tokenUrl"], data={"username": "viewer_a\x00",
                                                           "password": "x"})
    assert r.status_code == 401


async def test_api_key_shown_once_stored_hashed_and_revocable(auth_stack: AuthStack) -> None:
    trader = auth_stack.users["trader_a"]
    r = await trader.post("/api/v1/auth/api-keys", json={"name": "my script"})
    assert r.status_code == 201, r.text
    key, key_id = r.json()["api_key"], r.json()["id"]
    assert key.startswith("mk_") and len(key) > 40
    me = await auth_stack.anon.get("/api/v1/auth/me", headers={"X-API-Key": key})
    assert me.json()["username"] == "trader_a" and me.json()["via"] == "api_key"
    listed = (await trader.get("/api/v1/auth/api-keys")).json()["api_keys"]
    assert [k["name"] for k in listed if k["id"] == key_id] == ["my script"]
    assert key not in str(listed) and key[:9] == listed[-1]["prefix"]
    conn = await asyncpg.connect(auth_stack.dsn)
    try:
        stored = await conn.fetch("SELECT key_hash FROM gateway.api_keys")
    finally:
        await conn.close()
    assert all(key not in row["key_hash"] for row in stored)
    # another user cannot revoke it; its owner can
    other = await auth_stack.users["trader_b"].delete(f"/api/v1/auth/api-keys/{key_id}")
    assert other.status_code == 404
    assert (await trader.delete(f"/api/v1/auth/api-keys/{key_id}")).status_code == 200
    me = await auth_stack.anon.get("/api/v1/auth/me", headers={"X-API-Key": key})
    assert me.status_code == 401


async def test_cookie_session_is_httponly_samesite_and_needs_csrf_on_writes(
        auth_stack: AuthStack) -> None:
    async with httpx.AsyncClient(base_url=auth_stack.url, timeout=30) as ui:
        r = await ui.post("/api/v1/auth/session", json={"username": "trader_a",
                                                        "password": PASSWORD})
        assert r.status_code == 200, r.text
        cookies = r.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("mandi_session="))
        assert "HttpOnly" in session and "SameSite=strict" in session
        csrf_cookie = next(c for c in cookies if c.startswith("mandi_csrf="))
        assert "HttpOnly" not in csrf_cookie
        csrf = r.json()["csrf_token"]
        assert ui.cookies["mandi_csrf"] == csrf
        me = await ui.get("/api/v1/auth/me")
        assert me.json()["via"] == "cookie" and me.json()["username"] == "trader_a"
        # a write without the header (what a cross-site form would send): refused
        r = await ui.post("/api/v1/auth/api-keys", json={"name": "x"})
        assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
        r = await ui.post("/api/v1/auth/api-keys", json={"name": "x"},
                          headers={"X-CSRF-Token": "0" * 40})
        assert r.status_code == 403
        r = await ui.post("/api/v1/auth/api-keys", json={"name": "x"},
                          headers={"X-CSRF-Token": csrf})
        assert r.status_code == 201
        r = await ui.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200 and r.json()["revoked"] == 1
        assert (await ui.get("/api/v1/auth/me")).status_code == 401


async def test_users_crud_grants_and_last_admin(auth_stack: AuthStack) -> None:
    admin = auth_stack.admin
    await _new_user(auth_stack, "carol", "viewer")
    r = await admin.post("/api/v1/users", json={"username": "carol", "password": PASSWORD})
    assert r.status_code == 409
    r = await admin.post("/api/v1/users", json={"username": "dave", "password": "short"})
    assert r.status_code == 400 and "password" in r.json()["error"]
    r = await admin.post("/api/v1/users", json={"username": "Bad Name!", "password": PASSWORD})
    assert r.status_code == 400 and "username" in r.json()["error"]
    assert (await admin.post("/api/v1/accounts/ACC_C/grants",
                             json={"username": "carol"})).status_code == 201
    carol = httpx.AsyncClient(base_url=auth_stack.url, timeout=30)
    try:
        token = (await _login(auth_stack, "carol")).json()["access_token"]
        me = await carol.get("/api/v1/auth/me", headers=_bearer(token))
        assert me.json()["accounts"] == ["ACC_C"] and me.json()["role"] == "viewer"
        got = (await admin.get("/api/v1/users/carol")).json()["user"]
        assert got["accounts"] == ["ACC_C"] and "password_hash" not in got
        # a role change ends her sessions; the next login carries the new role
        r = await admin.patch("/api/v1/users/carol", json={"role": "trader"})
        assert r.json()["user"]["role"] == "trader"
        assert (await carol.get("/api/v1/auth/me", headers=_bearer(token))).status_code == 401
        assert (await admin.delete("/api/v1/accounts/ACC_C/grants/carol")).status_code == 200
        assert (await admin.delete("/api/v1/accounts/ACC_C/grants/carol")).status_code == 404
        token = (await _login(auth_stack, "carol")).json()["access_token"]
        me = (await carol.get("/api/v1/auth/me", headers=_bearer(token))).json()
        assert (me["role"], me["accounts"]) == ("trader", [])
        assert (await admin.delete("/api/v1/users/carol")).status_code == 200
        assert (await carol.get("/api/v1/auth/me", headers=_bearer(token))).status_code == 401
        assert (await admin.get("/api/v1/users/carol")).status_code == 404
    finally:
        await carol.aclose()
    r = await admin.delete("/api/v1/users/admin")
    assert r.status_code == 409 and "no enabled admin" in r.json()["error"]
    r = await admin.patch("/api/v1/users/admin", json={"role": "viewer"})
    assert r.status_code == 409
    names = [u["username"] for u in (await admin.get("/api/v1/users")).json()["users"]]
    assert {"admin", "viewer_a", "trader_a", "trader_b"} <= set(names)


async def test_repeated_failures_lock_the_username_out(auth_stack: AuthStack) -> None:
    await _new_user(auth_stack, "locky")
    for _ in range(3):  # the stack's MANDI_LOGIN_MAX_FAILURES
        assert (await _login(auth_stack, "locky", "wrong-password")).status_code == 401
    r = await _login(auth_stack, "locky")  # the right password, locked out all the same
    assert r.status_code == 429 and "too many failed logins" in r.json()["error"]
    assert 1 <= int(r.headers["retry-after"]) <= 301  # the stack's 300 s window
    assert (await _login(auth_stack, "trader_b")).status_code == 200  # others unaffected


async def test_audit_log_records_logins_failures_keys_and_grants(auth_stack: AuthStack) -> None:
    await _login(auth_stack, "trader_b", "wrong-password")
    await _login(auth_stack, "trader_b")
    await auth_stack.users["trader_b"].post("/api/v1/auth/api-keys", json={"name": "audited"})
    r = await auth_stack.admin.get("/api/v1/audit", params={"limit": 1000})
    assert r.status_code == 200
    entries = r.json()["entries"]
    seen = {(e["actor"], e["action"]) for e in entries}
    assert {("trader_b", "login.failed"), ("trader_b", "login"), ("trader_b", "apikey.create"),
            ("admin", "grant.add"), ("admin", "user.create"),
            ("system", "user.create")} <= seen
    assert all(PASSWORD not in str(e) and "wrong-password" not in str(e) for e in entries)
    only = (await auth_stack.admin.get("/api/v1/audit", params={"action": "grant.add"})).json()
    assert {e["action"] for e in only["entries"]} == {"grant.add"}
    r = await auth_stack.users["trader_b"].get("/api/v1/audit")
    assert r.status_code == 403


async def test_redis_gone_during_a_login_is_503_not_500(auth_stack: AuthStack) -> None:
    throttle = auth_stack.app.state.auth.throttle
    real = throttle.redis
    throttle.redis = create_redis("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        r = await _login(auth_stack, "trader_b")
    finally:
        await throttle.redis.aclose()
        throttle.redis = real
    assert r.status_code == 503 and r.json()["error_type"] == "api", r.text
    assert PASSWORD not in r.text
    assert (await _login(auth_stack, "trader_b")).status_code == 200
