"""The gateway app under uvicorn with its signed-in users, shared by the auth stacks: the
first-run admin, an anonymous client, and per (username, role, account) a user holding that
account only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from mandi.platform.config import Settings
from mandi.testing.asgi_server import serve_app
from mandi.testing.gateway_auth import GatewayLogin
from services.gateway.app import create_app

PASSWORD = "a-long-enough-password"


@dataclass
class SignedIn:
    app: FastAPI
    url: str
    admin: httpx.AsyncClient
    anon: httpx.AsyncClient
    users: dict[str, httpx.AsyncClient]  # username -> signed-in client


@asynccontextmanager
async def signed_in_gateway(settings: Settings, users: tuple[tuple[str, str, str], ...]
                            ) -> AsyncIterator[SignedIn]:
    app = create_app(settings)
    async with serve_app(app) as url, AsyncExitStack() as clients:
        def client(auth: GatewayLogin | None) -> httpx.AsyncClient:
            c = httpx.AsyncClient(base_url=url, timeout=30, auth=auth)
            clients.push_async_callback(c.aclose)
            return c

        admin, anon = client(GatewayLogin()), client(None)
        signed = {}
        for name, role, account in users:
            r = await admin.post("/api/v1/users", json={"username": name,
                                                        "password": PASSWORD, "role": role})
            assert r.status_code == 201, r.text
            r = await admin.post(f"/api/v1/accounts/{account}/grants", json={"username": name})
            assert r.status_code == 201, r.text
            signed[name] = client(GatewayLogin(name, PASSWORD))
        yield SignedIn(app, url, admin, anon, signed)
