"""`POST /session/refresh_token`. Kite issues refresh tokens only to some platform apps; the
simulator's app (like a retail Kite Connect app) gets an empty `refresh_token` at login, so a
renewal is refused as Kite refuses an unknown refresh token: 403 TokenException after the form
and checksum are checked, never a 404."""

from __future__ import annotations

from aiohttp import web

from services.kitesim.envelope import InputException, TokenException


async def refresh_token(request: web.Request) -> web.Response:
    from services.kitesim.app import SIM

    sim = request.app[SIM]
    form = await request.post()
    for name in ("api_key", "refresh_token", "checksum"):
        if not form.get(name):
            raise InputException(f"Missing `{name}`.")
    if form["api_key"] != sim.cfg.api_key:
        raise TokenException("Invalid `api_key`.")
    raise TokenException("Invalid refresh token: this app is not issued refresh tokens.")


def register(router: web.UrlDispatcher) -> None:
    router.add_post("/session/refresh_token", refresh_token)
