"""The bootstrap every Mandi gRPC service runs, so each `services/<name>/__main__.py` only wires.

It gives every service the same operational behaviour (DESIGN.md conventions): health and
reflection registered, RED metrics and server spans on every call, domain errors mapped to status
codes, a Prometheus endpoint, and a graceful drain on SIGTERM — health turns NOT_SERVING first so
load balancers stop routing, new calls are refused, in-flight calls get `shutdown_grace_s` to
finish, and only then are the service's resources (pools, workers) closed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mandi.core.errors import ConfigError
from mandi.platform.config import HostPort, Settings, load_settings, parse_host_port
from mandi.platform.logging import configure_logging
from mandi.platform.server_interceptor import PlatformServerInterceptor
from mandi.platform.service_auth import service_key
from mandi.platform.tasks import task_stacks
from mandi.platform.telemetry import (
    MetricsServer,
    setup_tracing,
    shutdown_tracing,
    start_metrics_server,
)

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # candle batches and exports are large; 4 MiB is not enough


@dataclass
class ServiceSpec:
    """What a service contributes to `serve`; everything else is common."""

    name: str  # "history": picks settings.addr_of(name), metrics port, metric/log labels
    register: Callable[[grpc.aio.Server], None]  # adds servicers (add_XServicer_to_server)
    service_names: Sequence[str]  # e.g. ["mandi.v1.HistoryService"], for health + reflection
    on_start: Callable[[], Awaitable[None]] | None = None  # open pools, migrate, start workers
    on_stop: Callable[[], Awaitable[None]] | None = None  # after the server has drained


class ServerReady(asyncio.Event):
    """An `asyncio.Event` that `serve` sets once the service is SERVING, after recording the
    ports it bound — the way to learn them when asking for port 0 (tests, side-by-side runs).
    A plain asyncio.Event works too; it is simply set."""

    def __init__(self) -> None:
        super().__init__()
        self.port: int | None = None
        self.metrics_port: int | None = None


class _DrainingHealthServicer(health.aio.HealthServicer):
    """The library's async health servicer, except that Watch streams end right after they have
    reported NOT_SERVING during shutdown. Otherwise every open Watch would be an in-flight call
    that never finishes and each shutdown would wait out the whole grace period."""

    def __init__(self) -> None:
        super().__init__()
        self.draining = False

    async def enter_graceful_shutdown(self) -> None:
        self.draining = True
        await super().enter_graceful_shutdown()

    async def Watch(self, request: Any, context: Any) -> None:
        try:
            await super().Watch(request, _EndAfterDrainWrite(context, self))
        except _WatchFinished:
            return


class _WatchFinished(Exception):
    pass


class _EndAfterDrainWrite:
    def __init__(self, context: Any, servicer: _DrainingHealthServicer) -> None:
        self._context = context
        self._servicer = servicer

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        if self._servicer.draining:
            raise _WatchFinished

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


async def serve(
    spec: ServiceSpec,
    settings: Settings,
    *,
    port: int | None = None,
    metrics_port: int | None = None,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run `spec` until SIGTERM/SIGINT or `stop` is set; return the process exit code.

    port: None → the port of `settings.addr_of(spec.name)`; 0 → an ephemeral port.
    metrics_port: None → `settings.metrics_port_of(spec.name)`; 0 → ephemeral; < 0 → no
    metrics endpoint. Bound ports are published on `ready` when it is a ServerReady.
    Returns 0 after a graceful stop, 1 when start-up failed (bind, on_start).
    """
    if port is None:
        port = parse_host_port(settings.addr_of(spec.name)).port
    if metrics_port is None:
        metrics_port = settings.metrics_port_of(spec.name)
    stop = stop if stop is not None else asyncio.Event()

    server = grpc.aio.server(
        interceptors=[PlatformServerInterceptor(spec.name, service_key(settings),
                                               allow_unsigned=settings.grpc_allow_unsigned)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),  # a second replica on one host must fail, not share
        ],
    )
    health_servicer = _DrainingHealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    spec.register(server)
    reflection.enable_server_reflection(
        [
            *spec.service_names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    for name in ("", *spec.service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    host = settings.listen_host_of(spec.name)
    where = HostPort(host, port)
    try:
        bound = server.add_insecure_port(str(where))
    except RuntimeError as exc:
        log.error("%s: cannot listen on %s: %s", spec.name, where, exc)
        return EXIT_FAILED
    if bound == 0 and port != 0:  # older grpc versions report failure this way
        log.error("%s: cannot listen on %s", spec.name, where)
        return EXIT_FAILED

    metrics: MetricsServer | None = None
    removers = _install_signal_handlers(stop)
    started = False
    try:
        if metrics_port >= 0:
            metrics = start_metrics_server(metrics_port, host)
        if spec.on_start is not None:
            await spec.on_start()
        await server.start()
        started = True
        for name in ("", *spec.service_names):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("%s serving gRPC on %s", spec.name, HostPort(host, bound))
        # Everything allocated during start-up lives for the whole process: freezing it keeps
        # the collector from re-walking it on every gen-2 pass (shorter tail latency).
        gc.collect()
        gc.freeze()
        if isinstance(ready, ServerReady):
            ready.port = bound
            ready.metrics_port = metrics.port if metrics else None
        if ready is not None:
            ready.set()

        await stop.wait()
        log.info("%s shutting down (grace %.1fs)", spec.name, settings.shutdown_grace_s)
        await health_servicer.enter_graceful_shutdown()
        await asyncio.sleep(0)  # let open Watch streams send NOT_SERVING before we stop
        await server.stop(settings.shutdown_grace_s)
        log.info("%s drained", spec.name)
        return EXIT_OK
    except Exception:
        log.exception("%s failed to start", spec.name)
        return EXIT_FAILED
    finally:
        if not started:
            await server.stop(None)
        if spec.on_stop is not None:
            await _bounded_stop(spec, settings)
        if metrics is not None:
            metrics.close()
        for remove in removers:
            remove()


def stop_timeout_s(settings: Settings) -> float:
    """How long a service's own close (on_stop: workers, pools) may take after the drain."""
    return max(10.0, 2 * settings.shutdown_grace_s)


async def _bounded_stop(spec: ServiceSpec, settings: Settings) -> None:
    """Run `spec.on_stop`, at most `stop_timeout_s`: a close that hangs (a pool waiting for
    a connection a stuck task holds) must not keep the process from exiting, or a rolling
    restart waits on it. What was still running is logged, to find the hang."""
    assert spec.on_stop is not None
    task = asyncio.ensure_future(spec.on_stop())
    limit = stop_timeout_s(settings)
    try:
        done, _ = await asyncio.wait([task], timeout=limit)
        if done:
            task.result()
            return
    except Exception:
        log.exception("%s: on_stop failed", spec.name)
        return
    log.error("%s: closing did not finish within %.0f s; exiting anyway. Still running: %s",
              spec.name, limit, "; ".join(task_stacks(limit=3)[:20]))
    task.cancel()


def _install_signal_handlers(stop: asyncio.Event) -> list[Callable[[], None]]:
    """SIGTERM/SIGINT set `stop`. Only possible on the main thread; elsewhere `stop` is the way."""
    if threading.current_thread() is not threading.main_thread():
        return []
    loop = asyncio.get_running_loop()
    removers: list[Callable[[], None]] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            continue

        def remove(sig: signal.Signals = sig, previous: Any = previous) -> None:
            loop.remove_signal_handler(sig)
            if previous is not None:
                signal.signal(sig, previous)

        removers.append(remove)
    return removers


class _HoldRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def run_service(spec_factory: Callable[[Settings], ServiceSpec]) -> None:
    """Entry point for `python -m services.<name>`: settings, logging, tracing, serve, exit.

    A configuration error is printed to stderr as one clear line and exits 2, before anything
    else starts, so a bad deployment fails fast and visibly.
    """
    # Warnings from loading settings (unknown variables) are held until logging is configured,
    # so they come out in the service's format rather than bare on stderr.
    held = _HoldRecords()
    config_log = logging.getLogger("mandi.platform.config")
    config_log.addHandler(held)
    config_log.propagate = False
    try:
        settings = load_settings()
        spec = spec_factory(settings)
        settings.addr_of(spec.name)  # fail now, not after on_start, if the name has no address
    except ConfigError as exc:
        print(f"mandi: configuration error: {exc.message}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    finally:
        config_log.removeHandler(held)
        config_log.propagate = True
    configure_logging(spec.name, settings.log_level, secrets=settings.secret_values())
    for record in held.records:
        config_log.handle(record)
    setup_tracing(spec.name, settings.trace_exporter, settings.otlp_endpoint)
    try:
        code = asyncio.run(serve(spec, settings))
    finally:
        shutdown_tracing()
    sys.exit(code)
