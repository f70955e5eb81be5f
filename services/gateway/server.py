"""Gateway process: the FastAPI app under uvicorn, plus a gRPC port that serves only
grpc.health.v1 so the gateway is probed like every other service.

uvicorn's own signal handling is switched off: the platform's serve() owns SIGTERM and stops
uvicorn from on_stop, after health has gone NOT_SERVING.

TLS: with MANDI_TLS_CERT and MANDI_TLS_KEY (PEM files) the REST port speaks HTTPS only; one
without the other, or a file that cannot be read, stops the start with a ConfigError naming the
variable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from typing import Any

import uvicorn

from mandi.core.errors import ConfigError
from mandi.platform.config import Settings
from mandi.platform.grpc_server import ServiceSpec
from services.gateway.app import create_app


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's ssl arguments from MANDI_TLS_CERT / MANDI_TLS_KEY ({} when neither is set)."""
    cert, key = settings.tls_cert, settings.tls_key
    if not cert and not key:
        return {}
    for name, value in (("MANDI_TLS_CERT", cert), ("MANDI_TLS_KEY", key)):
        if not value:
            raise ConfigError(f"{name} is required when the other TLS file is set", field=name)
        if not os.access(os.path.expanduser(value), os.R_OK):
            raise ConfigError(f"{name}: {value} is not a readable file", field=name)
    return {"ssl_certfile": os.path.expanduser(cert), "ssl_keyfile": os.path.expanduser(key)}


def build_spec(settings: Settings) -> ServiceSpec:
    tls = tls_options(settings)
    config = uvicorn.Config(create_app(settings), host=settings.listen_host_of("gateway"),
                            port=settings.gateway_port,
                            log_level=settings.log_level.lower(), access_log=False,
                            lifespan="on", http="httptools",
                            # WebSocket keepalive pings at the channels' interval; no
                            # permessage-deflate: channel messages are a few hundred bytes and
                            # compressing each for each socket cost ~20 µs (bench_ws.py)
                            ws_ping_interval=settings.gateway_ws_ping_s,
                            ws_ping_timeout=settings.gateway_ws_ping_s,
                            ws_per_message_deflate=False,
                            # no handlers of uvicorn's own: its records (tracebacks of
                            # "Exception in ASGI application" included) reach Mandi's handler,
                            # one line each, redacted
                            log_config=None, **tls)
    server = _Uvicorn(config)
    task: asyncio.Task | None = None

    async def on_start() -> None:
        nonlocal task
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()  # re-raise why uvicorn could not start (e.g. port in use)
                raise RuntimeError("gateway HTTP server exited during start")
            await asyncio.sleep(0.02)

    async def on_stop() -> None:
        server.should_exit = True
        if task is not None:
            await task

    return ServiceSpec(name="gateway", register=lambda _server: None, service_names=[],
                       on_start=on_start, on_stop=on_stop)
