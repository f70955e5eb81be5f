"""`/api/v1/auth`: sign-in and credentials.

* `POST /login` `{username, password}` and the OAuth2 password flow `POST /token` (form; the
  OpenAPI page's Authorize button) → `{access_token, refresh_token, token_type, expires_in}`;
* `POST /refresh` spends a refresh token for a new pair (reusing a spent one revokes its whole
  family); `POST /logout` revokes the refresh token, bearer or cookie session it is given;
* `POST /session` signs the web UI in with an HttpOnly, SameSite=Strict session cookie and a
  readable CSRF cookie whose value must come back as `X-CSRF-Token` on unsafe methods;
* `GET /me`; API keys for scripts: `POST /api-keys` (the key is shown once, stored hashed, sent
  as `X-API-Key`), `GET /api-keys`, `DELETE /api-keys/{key_id}`.

Failed logins are throttled per username and IP (Redis) and every login, failure, logout and key
change is audited. Errors never echo a password or token.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from mandi.core.errors import AuthError
from services.gateway.auth import passwords, tokens
from services.gateway.auth.enforce import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Me,
    bearer_scheme,
    csrf_for,
)
from services.gateway.auth.host import AuthHost
from services.gateway.schemas.auth import (
    LOGIN_NAME,
    ApiKeyBody,
    LoginBody,
    LogoutBody,
    RefreshBody,
)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


async def auth_host(request: Request) -> AuthHost:
    return await request.app.state.auth.wait()


Host = Annotated[AuthHost, Depends(auth_host)]
KeyId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def check_password(request: Request, host: AuthHost, username: str, password: str,
                         via: str) -> str:
    """The username when the password is right (and the user enabled); AuthError otherwise,
    the same for an unknown user, a wrong password and a disabled user."""
    assert host.store is not None and host.throttle is not None
    if not re.fullmatch(LOGIN_NAME, username):  # no such user can exist (form logins)
        raise AuthError("wrong username or password")
    ip = client_ip(request)
    await host.throttle.check(username, ip)
    stored, disabled = await host.store.password_hash(username)
    if not await passwords.verify_off_loop(stored, password) or disabled:
        await host.throttle.failed(username, ip)
        await host.store.audit(username[:64], "login.failed", ip=ip, detail={"via": via})
        raise AuthError("wrong username or password")
    await host.throttle.succeeded(username)
    await host.store.audit(username, "login", ip=ip, detail={"via": via})
    return username


async def _token_pair(host: AuthHost, username: str, family: str | None = None,
                      refresh: str | None = None) -> dict[str, Any]:
    assert host.store is not None
    s = host.settings
    if refresh is None:  # a new login: a new family
        family, refresh = tokens.opaque()[:24], tokens.opaque()
        await host.store.add_token(tokens.digest(refresh), "refresh", family, username,
                                   s.refresh_token_ttl_s)
    assert family is not None
    return {"access_token": tokens.issue_access(host.secret, username, family,
                                                s.access_token_ttl_s),
            "refresh_token": refresh, "token_type": "bearer",
            "expires_in": s.access_token_ttl_s}


@router.post("/login")
async def login(request: Request, body: LoginBody, host: Host) -> dict[str, Any]:
    username = await check_password(request, host, body.username, body.password, "login")
    return {"success": True, **await _token_pair(host, username)}


@router.post("/token")
async def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()],
                host: Host) -> dict[str, Any]:
    """OAuth2 password flow (RFC 6749 §4.3), for the OpenAPI page and OAuth2 clients."""
    username = await check_password(request, host, form.username, form.password, "token")
    return await _token_pair(host, username)


@router.post("/refresh")
async def refresh(body: RefreshBody, host: Host) -> dict[str, Any]:
    assert host.store is not None
    new = tokens.opaque()
    username, family = await host.store.rotate(tokens.digest(body.refresh_token),
                                               tokens.digest(new),
                                               host.settings.refresh_token_ttl_s)
    await host.store.principal_row(username)  # a disabled or deleted user gets nothing
    return {"success": True, **await _token_pair(host, username, family, new)}


@router.post("/logout")
async def logout(request: Request, response: Response, host: Host,
                 bearer: Annotated[str | None, Depends(bearer_scheme)] = None,
                 body: LogoutBody | None = None) -> dict[str, Any]:
    """Revoke what is presented: the refresh token's family, the bearer token's family (its
    refresh tokens, and the access token itself at its next use), the session cookie."""
    assert host.store is not None
    families: set[str] = set()
    if body is not None and body.refresh_token:
        fam = await host.store.family_of(tokens.digest(body.refresh_token))
        if fam:
            families.add(fam)
    if bearer:
        try:
            families.add(tokens.read_access(host.secret, bearer).family)
        except AuthError:
            pass  # an expired access token has nothing left to revoke
    if cookie := request.cookies.get(SESSION_COOKIE):
        fam = await host.store.family_of(tokens.digest(cookie))
        if fam:
            families.add(fam)
    revoked = 0
    for fam in families:
        revoked += await host.store.revoke_family(fam)
    if revoked:
        await host.store.audit("", "logout", ip=client_ip(request), detail={"tokens": revoked})
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return {"success": True, "revoked": revoked}


@router.post("/session")
async def session(request: Request, response: Response, body: LoginBody,
                  host: Host) -> dict[str, Any]:
    """Sign the web UI in: sets the HttpOnly session cookie and the CSRF cookie."""
    assert host.store is not None
    s = host.settings
    username = await check_password(request, host, body.username, body.password, "session")
    value, family = tokens.opaque(), tokens.opaque()[:24]
    await host.store.add_token(tokens.digest(value), "session", family, username,
                               s.session_ttl_s)
    csrf = csrf_for(host.secret, value)
    response.set_cookie(SESSION_COOKIE, value, max_age=s.session_ttl_s, path="/",
                        httponly=True, samesite="strict", secure=s.cookie_secure)
    response.set_cookie(CSRF_COOKIE, csrf, max_age=s.session_ttl_s, path="/",
                        httponly=False, samesite="strict", secure=s.cookie_secure)
    role, _ = await host.store.principal_row(username)
    return {"success": True, "username": username, "role": role, "csrf_token": csrf,
            "expires_in": s.session_ttl_s}


@router.get("/me")
async def me(who: Me) -> dict[str, Any]:
    return {"success": True, "username": who.username, "role": who.role,
            "accounts": sorted(who.accounts), "all_accounts": who.is_admin, "via": who.via}


@router.post("/api-keys", status_code=201)
async def create_api_key(request: Request, who: Me, host: Host,
                         body: ApiKeyBody | None = None) -> dict[str, Any]:
    assert host.store is not None
    key, prefix = tokens.new_api_key()
    row = await host.store.add_api_key(who.username, (body.name if body else "") or prefix,
                                       prefix, tokens.digest(key))
    await host.store.audit(who.username, "apikey.create", str(row["id"]),
                           ip=client_ip(request), detail={"name": row["name"]})
    return {"success": True, **row, "api_key": key,
            "note": "shown once: store it now; send it as the X-API-Key header"}


@router.get("/api-keys")
async def list_api_keys(who: Me, host: Host) -> dict[str, Any]:
    assert host.store is not None
    return {"success": True, "api_keys": await host.store.list_api_keys(who.username)}


@router.delete("/api-keys/{key_id}")
async def revoke_api_key(request: Request, key_id: KeyId, who: Me, host: Host) -> dict[str, Any]:
    """Revoke one of the caller's keys (an admin: anyone's)."""
    assert host.store is not None
    await host.store.revoke_api_key(who.username, key_id, any_user=who.is_admin)
    await host.store.audit(who.username, "apikey.revoke", str(key_id), ip=client_ip(request))
    return {"success": True, "id": key_id}
