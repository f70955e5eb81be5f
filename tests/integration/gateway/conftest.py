"""The gateway's data API over real sockets: the gateway app under uvicorn, the history service
(`serve(build_spec(...))`, the code `python -m services.history` runs) on an ephemeral gRPC port,
a fresh PostgreSQL database, and kitesim in-process, spoken to by the real kiteconnect client.

One stack per test module; tests keep apart by symbol (each module's tests use their own)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from mandi.platform.config import load_settings
from mandi.platform.grpc_server import ServerReady, serve
from mandi.testing.asgi_server import serve_app
from mandi.testing.gateway_auth import ADMIN_ENV, GatewayLogin
from mandi.testing.kitesim import KitesimServer, start_kitesim
from mandi.testing.pg import fresh_database
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import history_pb2_grpc
from services.gateway.app import create_app
from services.history.server import build_spec


@dataclass
class GatewayStack:
    sim: KitesimServer
    dsn: str
    app: FastAPI
    http: httpx.AsyncClient
    history: history_pb2_grpc.HistoryServiceStub
    history_port: int


@pytest.fixture(scope="module")
def sim() -> Iterator[KitesimServer]:
    """kitesim with an API key of this module only, so the history service's rate-limit bucket
    (keyed per API key in the shared Redis) is not shared with anyone else's tests."""
    server = start_kitesim(seed=11, rate_limits=False, api_key=f"gw_{uuid.uuid4().hex[:10]}")
    server.login()
    try:
        yield server
    finally:
        server.stop()


async def _started(task: asyncio.Task, ready: asyncio.Event, what: str) -> None:
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({waiter, task}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        waiter.cancel()
        raise RuntimeError(f"{what} did not start: {task}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(sim: KitesimServer) -> AsyncIterator[GatewayStack]:
    async with open_stack(sim) as opened:
        yield opened


@asynccontextmanager
async def open_stack(sim: KitesimServer, extra_env: dict[str, str] | None = None
                     ) -> AsyncIterator[GatewayStack]:
    """The stack over `sim`; `extra_env` adds or overrides MANDI_* settings of both processes
    (a module's own limits, its own Redis prefix)."""
    async with fresh_database() as dsn:
        env = {"MANDI_PG_DSN": dsn, "MANDI_KITE_ROOT": sim.url, "MANDI_KITE_API_KEY": sim.api_key,
               "MANDI_KITE_API_SECRET": sim.api_secret, "MANDI_CLOCK": "sim",
               "MANDI_KITE_HISTORICAL_RATE": "50", "MANDI_SHUTDOWN_GRACE_S": "1",
               # two workers: test_data_jobs relies on it
               "MANDI_HISTORY_CONCURRENCY": "2", **ADMIN_ENV, **(extra_env or {})}
        settings = load_settings(env)
        ready, stop = ServerReady(), asyncio.Event()
        history = asyncio.create_task(serve(build_spec(settings), settings, port=0,
                                            metrics_port=-1, ready=ready, stop=stop))
        await _started(history, ready, "history service")
        gw_settings = load_settings({**env, "MANDI_HISTORY_ADDR": f"127.0.0.1:{ready.port}"})
        app = create_app(gw_settings)
        channel = signed_aio_channel(f"127.0.0.1:{ready.port}")
        try:
            async with serve_app(app) as url, \
                    httpx.AsyncClient(base_url=url, timeout=120, auth=GatewayLogin()) as http:
                yield GatewayStack(sim, dsn, app, http,
                                   history_pb2_grpc.HistoryServiceStub(channel), ready.port)
        finally:
            await channel.close()
            stop.set()
            await asyncio.wait_for(history, 30)
