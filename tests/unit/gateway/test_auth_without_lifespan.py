"""An app driven without its lifespan (no auth state) refuses credentialed routes with a 503
that says why, instead of a 500 or, worse, letting the request through; `trust()` is the test
seam that admits such requests as a chosen principal."""

from __future__ import annotations

import httpx

from mandi.platform.config import load_settings
from mandi.testing.gateway_auth import trust
from services.gateway.app import create_app


async def test_without_lifespan_credentialed_routes_are_503_public_ones_serve() -> None:
    app = create_app(load_settings({}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        r = await client.get("/api/v1/auth/me")
        assert r.status_code == 503 and "lifespan" in r.json()["error"]
        assert (await client.get("/healthz")).status_code == 200
        trust(app, "t1", "viewer", frozenset({"A"}))
        me = (await client.get("/api/v1/auth/me")).json()
        assert (me["username"], me["role"], me["accounts"]) == ("t1", "viewer", ["A"])
