"""The execution service over a real gRPC socket with the gateway app on top (ASGI, trusted
principal): the `api` fixture of the REST tests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from fastapi import FastAPI

from mandi.platform.config import load_settings
from mandi.platform.grpc_server import ServerReady, ServiceSpec, serve
from mandi.testing.gateway_auth import trust
from mandi.v1 import execution_pb2_grpc
from services.execution.server import SERVICE_NAME, ExecutionServicer
from services.gateway.app import create_app
from services.gateway.clients import open_backends
from tests.integration.execution.kit import Env


@dataclasses.dataclass
class Api:
    env: Env
    stub: execution_pb2_grpc.ExecutionServiceStub
    http: httpx.AsyncClient
    other: str
    app: FastAPI


@contextlib.asynccontextmanager
async def api_stack(env: Env, **settings: object) -> AsyncIterator[Api]:
    """Execution served on an ephemeral port, the gateway app on top; `settings` override the
    gateway's (e.g. a strategy address nobody listens on)."""
    servicer = ExecutionServicer({"engine": env.engine})
    spec = ServiceSpec("execution", lambda s: execution_pb2_grpc.
                       add_ExecutionServiceServicer_to_server(servicer, s), [SERVICE_NAME])
    ready, stop = ServerReady(), asyncio.Event()
    base = load_settings({})
    task = asyncio.create_task(serve(spec, base, port=0, metrics_port=-1, ready=ready,
                                     stop=stop))
    await asyncio.wait_for(ready.wait(), 10)
    gateway = dataclasses.replace(base, execution_addr=f"127.0.0.1:{ready.port}",
                                  shutdown_grace_s=0.5, **settings)
    app = create_app(gateway)
    app.state.backends = open_backends(gateway)
    trust(app)  # admin; tests that need a lesser role call trust() again
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    env.price("NSE:SBIN", 812.00)
    try:
        yield Api(env, app.state.backends.execution, http, await env.add_account(), app)
    finally:
        await http.aclose()
        await app.state.backends.close()
        stop.set()
        await task


@pytest_asyncio.fixture(loop_scope="module")
async def api(env: Env) -> AsyncIterator[Api]:
    async with api_stack(env) as a:
        yield a
