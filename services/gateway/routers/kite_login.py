"""The trader's daily Kite login, from the gateway.

* `GET /api/v1/kite/login?account_id=` (trader holding the account) → 302 to Kite's login page
  (kitesim's `/connect/login` when the Kite root is local) with a signed, expiring `state`
  (mandi.kite.login_state) in `redirect_params`, so the callback knows the account and user;
* `GET /api/v1/kite/callback?request_token=&status=&state=` (public: Kite's redirect) checks the
  state (400 naming `state`), exchanges the request token with the real kiteconnect client
  (checksum sha256(api_key + request_token + api_secret)), and stores the access token sealed
  by mandi.platform.secret_box in mandi.kite.session_store, whose version counter every service's
  TokenProvider watches; a Kite refusal is a 502 with the error envelope;
* `GET /api/v1/kite/session?account_id=` → `{account_id, state, login_url, expires_at}`:
  `active`, or `login_needed` once Kite refused the token or 06:00 IST passed (or `none`).

Not built: per-account Kite apps (the settings' API key serves every account), a notification
when bots are affected by the expiry.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from mandi.core.errors import InvalidInput, MandiError
from mandi.kite.client import session_from_request_token
from mandi.kite.login_state import sign_state, verify_state
from services.execution.wiring import is_simulator
from services.gateway.auth.enforce import Me
from services.gateway.errors import envelope
from services.gateway.routers.auth import Host

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/kite", tags=["kite"])
KITE_LOGIN = "https://kite.zerodha.com/connect/login"
GATEWAY_LOGIN = "/api/v1/kite/login"


def _login_page(settings) -> str:
    return (settings.kite_root.rstrip("/") + "/connect/login" if is_simulator(settings)
            else KITE_LOGIN)


@router.get("/login", status_code=302, response_class=RedirectResponse)
async def login(who: Me, host: Host,
                account_id: Annotated[str, Query(min_length=1, max_length=32)]
                ) -> RedirectResponse:
    s = host.settings
    state = sign_state(host.secret, account_id, who.username)
    query = urlencode({"api_key": s.kite_api_key, "v": "3",
                       "redirect_params": urlencode({"state": state})})
    return RedirectResponse(f"{_login_page(s)}?{query}", status_code=302)


@router.get("/callback")
async def callback(request: Request, host: Host, state: str = "", request_token: str = "",
                   status: str = "") -> object:
    store, s = host.kite_sessions, host.settings
    account_id, username = verify_state(host.secret, state)
    if status != "success":
        raise InvalidInput("status is not success: the Kite login was cancelled or failed",
                           field="status")
    if not request_token:
        raise InvalidInput("request_token is required", field="request_token")
    try:
        session = await session_from_request_token(s.kite_api_key, s.kite_api_secret,
                                                   request_token, root=s.kite_root)
    except MandiError as exc:
        log.warning("Kite login for %s by %s refused: %s", account_id, username, exc.message)
        return envelope(f"Kite refused the login: {exc.message}", "kite", 502)
    issued = session.login_time or request.app.state.clock.now()
    version = await store.put(s.kite_api_key, session.access_token, issued)
    log.info("Kite login %d for account %s by %s", version, account_id, username)
    current = await store.session(s.kite_api_key, request.app.state.clock.now())
    return {"account_id": account_id, "state": current.state,
            "expires_at": current.expires.isoformat() if current.expires else None}


@router.get("/session")
async def session(request: Request, _who: Me, host: Host,
                  account_id: Annotated[str, Query(min_length=1, max_length=32)]) -> object:
    current = await host.kite_sessions.session(host.settings.kite_api_key,
                                               request.app.state.clock.now())
    return {"account_id": account_id, "state": current.state,
            "login_url": f"{GATEWAY_LOGIN}?{urlencode({'account_id': account_id})}",
            "expires_at": current.expires.isoformat() if current.expires else None}
