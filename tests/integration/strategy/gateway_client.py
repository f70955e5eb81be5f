"""The gateway app over the strategy tests' real gRPC backends (strategy, history), as a user of
one test only: shared by the backtest and the bot REST tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from mandi.platform.config import load_settings
from mandi.testing.gateway_auth import trust
from services.gateway.app import create_app
from services.gateway.clients import open_backends


@asynccontextmanager
async def gateway_client(strategy_port: int, history_port: int, role: str,
                         accounts: frozenset[str] = frozenset()
                         ) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings({"MANDI_STRATEGY_ADDR": f"127.0.0.1:{strategy_port}",
                              "MANDI_HISTORY_ADDR": f"127.0.0.1:{history_port}"})
    app = create_app(settings)
    app.state.backends = open_backends(settings)
    trust(app, f"u-{uuid.uuid4().hex[:10]}", role, accounts)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://gw", timeout=60) as client:
            yield client
    finally:
        await app.state.backends.close()
