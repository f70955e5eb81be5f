"""The guard on WebSocket routes (a probe route stands in): no or a bad credential closes the
socket with 4401, a role below the route's level with 4403 (ws/codes.py), and an access
token in `?token=` (or the session cookie) admits. The probe is unclassified, so ADMIN-only."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from mandi.platform.config import load_settings
from mandi.testing.gateway_auth import ADMIN_ENV, TEST_ADMIN_PASSWORD
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from services.gateway.app import create_app

pytestmark = pytest.mark.integration
PROBE = "/ws/probe"


def _checks(app: FastAPI) -> None:  # runs in a worker thread, with its own event loop
    with TestClient(app) as client:
        admin = client.post("/api/v1/auth/login", json={"username": "admin",
                                                        "password": TEST_ADMIN_PASSWORD})
        token = admin.json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        r = client.post("/api/v1/users", headers=bearer, json={
            "username": "wsviewer", "password": "a-long-enough-password", "role": "viewer"})
        assert r.status_code == 201, r.text
        viewer = client.post("/api/v1/auth/login", json={
            "username": "wsviewer", "password": "a-long-enough-password"}).json()["access_token"]
        for url, code in ((PROBE, 4401), (f"{PROBE}?token=nonsense", 4401),
                          (f"{PROBE}?token={viewer}", 4403)):
            with pytest.raises(WebSocketDisconnect) as closed:
                with client.websocket_connect(url) as ws:
                    ws.receive_text()
            assert closed.value.code == code, url
        with client.websocket_connect(f"{PROBE}?token={token}") as ws:
            assert ws.receive_text() == "hello admin"
        # the web UI's cookie session: its own pages may open sockets, another site may not
        r = client.post("/api/v1/auth/session", json={"username": "admin",
                                                      "password": TEST_ADMIN_PASSWORD})
        assert r.status_code == 200 and "mandi_session" in client.cookies
        for origin in (None, "http://testserver"):
            with client.websocket_connect(PROBE, headers={"origin": origin} if origin
                                          else {}) as ws:
                assert ws.receive_text() == "hello admin"
        with pytest.raises(WebSocketDisconnect) as closed:
            with client.websocket_connect(PROBE, headers={"origin": "http://evil.example"}) \
                    as ws:
                ws.receive_text()
        assert closed.value.code == 4403


async def test_websocket_routes_need_a_credential_and_the_role() -> None:
    async with fresh_database() as dsn, redis_namespace() as ns:
        app = create_app(load_settings({"MANDI_PG_DSN": dsn, "MANDI_REDIS_URL": ns.url,
                                        "MANDI_REDIS_PREFIX": ns.prefix + "gw",
                                        "MANDI_SHUTDOWN_GRACE_S": "1", **ADMIN_ENV}))

        @app.websocket(PROBE)
        async def probe(websocket: WebSocket) -> None:
            await websocket.accept()
            await websocket.send_text(f"hello {websocket.state.user.username}")
            await websocket.close()

        await asyncio.to_thread(_checks, app)
