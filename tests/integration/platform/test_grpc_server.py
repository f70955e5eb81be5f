"""The service bootstrap over a real socket: health, graceful drain, error mapping, metrics,
tracing and deadlines. Handlers are generic (raw bytes) so no protos are needed."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry import trace

from mandi.core.errors import AlreadyExists, InvalidInput, NotFound, RateLimited
from mandi.platform.config import Settings, load_settings
from mandi.platform.grpc_client import channel
from mandi.platform.grpc_server import ServerReady, ServiceSpec, serve
from mandi.platform.status import grpc_error_to_domain
from mandi.platform.telemetry import setup_tracing
from mandi.testing.signed_channel import signed_aio_channel

pytestmark = pytest.mark.integration

SERVICE = "test.Demo"
REPO = Path(__file__).resolve().parents[3]


# --- handlers ------------------------------------------------------------------------------
async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def slow(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await asyncio.sleep(float(request))
    return b"done"


async def invalid(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise InvalidInput("unknown interval 'x'", field="interval")


async def boom(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise RuntimeError("db password is hunter2")


async def stream_then_not_found(request: bytes, context: grpc.aio.ServicerContext):
    yield b"first"
    raise NotFound("no such candle", field="symbol")


async def write_then_rate_limited(request: bytes, context: grpc.aio.ServicerContext) -> None:
    await context.write(b"written")
    raise RateLimited("kite says slow down")


async def forever(request: bytes, context: grpc.aio.ServicerContext):
    while True:  # big messages: a client that stops reading blocks the server's write
        yield b"tick" * 16384
        await asyncio.sleep(0)


async def collect(request_iterator, context: grpc.aio.ServicerContext) -> bytes:
    async for _ in request_iterator:
        pass
    raise AlreadyExists("strategy exists", field="name")


async def chat(request_iterator, context: grpc.aio.ServicerContext):
    async for message in request_iterator:
        if message == b"stop":
            raise InvalidInput("told to stop", field="message")
        yield message


async def aborts_itself(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await context.abort(grpc.StatusCode.OUT_OF_RANGE, "past the end")


async def inspect_call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    """Reports the deadline and trace context the server saw."""
    md = dict(context.invocation_metadata())
    remaining = context.time_remaining()
    span_ctx = trace.get_current_span().get_span_context()
    return (f"{md.get('traceparent', '')}|{remaining}|{span_ctx.trace_id:032x}").encode()


def demo_spec(events: list[str] | None = None) -> ServiceSpec:
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Slow": grpc.unary_unary_rpc_method_handler(slow),
            "Invalid": grpc.unary_unary_rpc_method_handler(invalid),
            "Boom": grpc.unary_unary_rpc_method_handler(boom),
            "StreamNotFound": grpc.unary_stream_rpc_method_handler(stream_then_not_found),
            "WriteRateLimited": grpc.unary_stream_rpc_method_handler(write_then_rate_limited),
            "Forever": grpc.unary_stream_rpc_method_handler(forever),
            "Collect": grpc.stream_unary_rpc_method_handler(collect),
            "Chat": grpc.stream_stream_rpc_method_handler(chat),
            "Inspect": grpc.unary_unary_rpc_method_handler(inspect_call),
            "Abort": grpc.unary_unary_rpc_method_handler(aborts_itself),
        },
    )
    log = events if events is not None else []

    async def on_start() -> None:
        log.append("start")

    async def on_stop() -> None:
        log.append("stop")

    return ServiceSpec(
        name="demo",
        register=lambda server: server.add_generic_rpc_handlers((handler,)),
        service_names=[SERVICE],
        on_start=on_start,
        on_stop=on_stop,
    )


class Running:
    def __init__(
        self, ready: ServerReady, stop: asyncio.Event, task: asyncio.Task[int], events: list[str]
    ) -> None:
        self.ready, self.stop, self.task, self.events = ready, stop, task, events
        assert ready.port is not None
        self.addr = f"127.0.0.1:{ready.port}"


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    settings = replace(Settings(), shutdown_grace_s=5.0)
    ready, stop, events = ServerReady(), asyncio.Event(), []
    task = asyncio.create_task(
        serve(demo_spec(events), settings, port=0, metrics_port=0, ready=ready, stop=stop)
    )
    await asyncio.wait_for(ready.wait(), 10)
    yield Running(ready, stop, task, events)
    stop.set()
    await asyncio.wait_for(task, 10)


def method(name: str) -> str:
    return f"/{SERVICE}/{name}"


async def health_status(addr: str, service: str = "") -> int:
    async with grpc.aio.insecure_channel(addr) as ch:  # health answers unsigned
        stub = health_pb2_grpc.HealthStub(ch)
        resp = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return resp.status


# --- tests ---------------------------------------------------------------------------------
async def test_health_when_started_is_serving_for_server_and_service(running: Running) -> None:
    assert await health_status(running.addr) == health_pb2.HealthCheckResponse.SERVING
    assert await health_status(running.addr, SERVICE) == health_pb2.HealthCheckResponse.SERVING
    assert running.events == ["start"]


async def test_shutdown_drains_in_flight_call_refuses_new_ones_and_goes_not_serving() -> None:
    settings = replace(Settings(), shutdown_grace_s=5.0)
    ready, stop, events = ServerReady(), asyncio.Event(), []
    task = asyncio.create_task(
        serve(demo_spec(events), settings, port=0, metrics_port=-1, ready=ready, stop=stop)
    )
    await asyncio.wait_for(ready.wait(), 10)
    addr = f"127.0.0.1:{ready.port}"
    async with signed_aio_channel(addr) as ch:
        watch = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(service=""))
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING

        started = time.monotonic()
        in_flight = asyncio.ensure_future(ch.unary_unary(method("Slow"))(b"1.0", timeout=10))
        await asyncio.sleep(0.2)  # the slow call is now being handled
        stop.set()

        after = await asyncio.wait_for(watch.read(), 5)
        assert after.status == health_pb2.HealthCheckResponse.NOT_SERVING
        await asyncio.sleep(0.1)
        assert not in_flight.done()  # still draining

        async with signed_aio_channel(addr) as fresh:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await fresh.unary_unary(method("Echo"))(b"hi", timeout=2)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE

        assert await in_flight == b"done"
        assert time.monotonic() - started >= 1.0
    assert await asyncio.wait_for(task, 10) == 0
    assert events == ["start", "stop"]


async def test_shutdown_when_grace_expires_cancels_call_and_still_returns_zero() -> None:
    settings = replace(Settings(), shutdown_grace_s=0.3)
    ready, stop = ServerReady(), asyncio.Event()
    task = asyncio.create_task(
        serve(demo_spec(), settings, port=0, metrics_port=-1, ready=ready, stop=stop)
    )
    await asyncio.wait_for(ready.wait(), 10)
    async with signed_aio_channel(f"127.0.0.1:{ready.port}") as ch:
        call = asyncio.ensure_future(ch.unary_unary(method("Slow"))(b"30", timeout=10))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        stop.set()
        assert await asyncio.wait_for(task, 5) == 0
        assert time.monotonic() - started < 3
        with pytest.raises(grpc.aio.AioRpcError):
            await call


@pytest.mark.parametrize("allow", [False, True])
async def test_unsigned_calls_are_refused_unless_allowed_for_debugging(allow: bool) -> None:
    """A plain channel's call is UNAUTHENTICATED by default (health still answers);
    MANDI_GRPC_ALLOW_UNSIGNED=true lets it in, as the system."""
    settings = load_settings({"MANDI_GRPC_ALLOW_UNSIGNED": str(allow).lower()})
    assert settings.grpc_allow_unsigned is allow
    ready, stop = ServerReady(), asyncio.Event()
    task = asyncio.create_task(
        serve(demo_spec(), settings, port=0, metrics_port=-1, ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 10)
    addr = f"127.0.0.1:{ready.port}"
    try:
        assert await health_status(addr) == health_pb2.HealthCheckResponse.SERVING
        async with grpc.aio.insecure_channel(addr) as ch:
            echo = ch.unary_unary(method("Echo"))
            if allow:
                assert await echo(b"hi", timeout=5) == b"hi"
            else:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await echo(b"hi", timeout=5)
                assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
                assert "carries no mandi-principal" in err.value.details()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_invalid_input_maps_to_invalid_argument_with_field(running: Running) -> None:
    async with signed_aio_channel(running.addr) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ch.unary_unary(method("Invalid"))(b"", timeout=5)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "interval: unknown interval 'x'"
    domain = grpc_error_to_domain(err.value)
    assert type(domain) is InvalidInput
    assert domain.field == "interval"
    assert domain.message == "unknown interval 'x'"


async def test_unexpected_exception_is_internal_without_details_but_logged(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with signed_aio_channel(running.addr) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ch.unary_unary(method("Boom"))(b"", timeout=5)
    assert err.value.code() is grpc.StatusCode.INTERNAL
    assert err.value.details() == "internal error"
    leaked = (
        f"{err.value.details()} {err.value.trailing_metadata()} {err.value.debug_error_string()}"
    )
    assert "hunter2" not in leaked and "Traceback" not in leaked
    assert any("hunter2" in (r.exc_text or "") for r in caplog.records)  # traceback kept for us


async def test_streams_cancelled_by_clients_or_shutdown_log_no_error(
    caplog: pytest.LogCaptureFixture
) -> None:
    """A subscriber going away, or the server stopping under open streams, is normal: no
    WARNING or ERROR. (OpenTelemetry logged "Failed to detach context" with a traceback for
    every stream whose generator was closed from another task, as at shutdown.)"""
    caplog.set_level(logging.WARNING)
    settings = replace(Settings(), shutdown_grace_s=0.5)
    ready, stop = ServerReady(), asyncio.Event()
    task = asyncio.create_task(serve(demo_spec(), settings, port=0, metrics_port=-1,
                                     ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 10)
    async with signed_aio_channel(f"127.0.0.1:{ready.port}") as ch:
        calls = [ch.unary_stream(method("Forever"))(b"", timeout=10) for _ in range(4)]
        for call in calls:
            assert len(await call.read()) == 65536
        await asyncio.sleep(0.3)  # nobody reads: every server stream waits in a write
        calls[0].cancel()
        await asyncio.sleep(0.2)
        stop.set()  # three streams still open
        assert await asyncio.wait_for(task, 10) == 0
    for _ in range(3):  # let dropped generators be finalised (aclose runs in a new task)
        gc.collect()
        await asyncio.sleep(0.05)
    assert [(r.name, r.getMessage()) for r in caplog.records
            if r.levelno >= logging.WARNING] == []


async def test_errors_map_for_every_streaming_shape(running: Running) -> None:
    async with signed_aio_channel(running.addr) as ch:
        call = ch.unary_stream(method("StreamNotFound"))(b"", timeout=5)
        assert await call.read() == b"first"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call.read()
        assert err.value.code() is grpc.StatusCode.NOT_FOUND
        assert err.value.details() == "symbol: no such candle"

        call = ch.unary_stream(method("WriteRateLimited"))(b"", timeout=5)
        assert await call.read() == b"written"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call.read()
        assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert type(grpc_error_to_domain(err.value)) is RateLimited

        async def requests():
            yield b"a"
            yield b"b"

        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ch.stream_unary(method("Collect"))(requests(), timeout=5)
        assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS
        assert err.value.details() == "name: strategy exists"

        async def chatter():
            yield b"hello"
            yield b"stop"

        call = ch.stream_stream(method("Chat"))(chatter(), timeout=5)
        assert await call.read() == b"hello"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call.read()
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details() == "message: told to stop"


def _sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_metrics_endpoint_exposes_red_metrics_after_calls(running: Running) -> None:
    url = f"http://127.0.0.1:{running.ready.metrics_port}/metrics"

    def scrape() -> str:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read().decode()

    before = await asyncio.to_thread(scrape)
    async with signed_aio_channel(running.addr) as ch:
        assert await ch.unary_unary(method("Echo"))(b"x", timeout=5) == b"x"
        with pytest.raises(grpc.aio.AioRpcError):
            await ch.unary_unary(method("Invalid"))(b"", timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as aborted:
            await ch.unary_unary(method("Abort"))(b"", timeout=5)
        assert aborted.value.code() is grpc.StatusCode.OUT_OF_RANGE
    text = await asyncio.to_thread(scrape)

    ok = dict(service="demo", method=f"{SERVICE}/Echo", code="OK")
    bad = dict(service="demo", method=f"{SERVICE}/Invalid", code="INVALID_ARGUMENT")
    assert (
        _sample(text, "mandi_rpc_requests_total", **ok)
        == (_sample(before, "mandi_rpc_requests_total", **ok) or 0) + 1
    )
    assert (_sample(text, "mandi_rpc_requests_total", **bad) or 0) >= 1
    own = dict(service="demo", method=f"{SERVICE}/Abort", code="OUT_OF_RANGE")
    assert (_sample(text, "mandi_rpc_requests_total", **own) or 0) >= 1
    count = _sample(
        text, "mandi_rpc_duration_seconds_count", service="demo", method=f"{SERVICE}/Echo"
    )
    assert count is not None and count >= 1
    assert _sample(text, "mandi_rpc_in_flight", service="demo") == 0


@pytest.fixture(scope="module")
def tracing() -> None:
    # The global provider can be set once per process; other tests only need *a* real one.
    if not hasattr(trace.get_tracer_provider(), "add_span_processor"):
        setup_tracing("test", "none")


async def test_client_channel_sets_default_deadline_and_propagates_trace(
    running: Running, tracing: None
) -> None:
    settings = replace(Settings(), rpc_timeout_s=7.0)
    tracer = trace.get_tracer("test")
    async with channel(running.addr, settings) as ch:
        with tracer.start_as_current_span("caller") as span:
            t0 = time.monotonic()
            reply = await ch.unary_unary(method("Inspect"))(b"")
            t1 = time.monotonic()
            explicit = await ch.unary_unary(method("Inspect"))(b"", timeout=2)
            t2 = time.monotonic()
        trace_id = f"{span.get_span_context().trace_id:032x}"
    traceparent, remaining, server_trace = reply.decode().split("|")
    assert traceparent.startswith(f"00-{trace_id}-")
    assert server_trace == trace_id  # the server span joined the caller's trace
    # The server sees the deadline less what the call took so far (measured, not assumed:
    # a loaded machine lengthens the call), ± 0.1 s for the header's rounding.
    assert 7.0 - (t1 - t0) - 0.1 <= float(remaining) <= 7.1
    assert 2.0 - (t2 - t1) - 0.1 <= float(explicit.decode().split("|")[1]) <= 2.1


async def test_a_callers_error_is_a_span_event_without_traceback_a_fault_keeps_it(
    running: Running, tracing: None
) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(spans))
    async with signed_aio_channel(running.addr) as ch:
        for name in ("Invalid", "Boom"):
            with pytest.raises(grpc.aio.AioRpcError):
                await ch.unary_unary(method(name))(b"", timeout=5)
    events = {s.name.rpartition("/")[2]: [dict(e.attributes) for e in s.events
                                          if e.name == "exception"]
              for s in spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER}
    spans.shutdown()
    [invalid], [boom] = events["Invalid"], events["Boom"]
    assert invalid["exception.type"] == "InvalidInput" and "exception.stacktrace" not in invalid
    assert "Traceback" in boom["exception.stacktrace"]


async def test_reflection_lists_service_health_and_reflection(running: Running) -> None:
    async with signed_aio_channel(running.addr) as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)

        async def ask():
            yield reflection_pb2.ServerReflectionRequest(list_services="")

        call = stub.ServerReflectionInfo(ask(), timeout=5)
        reply = await call.read()
    names = {s.name for s in reply.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


async def test_serve_when_on_start_fails_returns_one_and_still_runs_on_stop() -> None:
    events: list[str] = []
    spec = demo_spec(events)

    async def broken() -> None:
        events.append("start")
        raise ConnectionRefusedError("database down")

    spec.on_start = broken
    code = await asyncio.wait_for(serve(spec, Settings(), port=0, metrics_port=-1), 10)
    assert code == 1
    assert events == ["start", "stop"]


async def test_serve_when_port_taken_returns_nonzero() -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = await asyncio.wait_for(
            serve(demo_spec(), Settings(), port=port, metrics_port=-1), 10
        )
    assert code == 1


DEMO_SERVICE = """
import asyncio, grpc
from mandi.platform.grpc_server import ServiceSpec, run_service

async def slow(request, context):
    await asyncio.sleep(float(request))
    return b"done"

def build(settings):
    handler = grpc.method_handlers_generic_handler(
        "test.Demo", {"Slow": grpc.unary_unary_rpc_method_handler(slow)})
    return ServiceSpec(name="history", service_names=["test.Demo"],
                       register=lambda server: server.add_generic_rpc_handlers((handler,)))

run_service(build)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_run_service_on_sigterm_drains_and_exits_zero() -> None:
    port = free_port()
    env = {
        **os.environ,
        "MANDI_HISTORY_ADDR": f"127.0.0.1:{port}",
        "MANDI_METRICS_PORT_HISTORY": str(free_port()),
        "MANDI_SHUTDOWN_GRACE_S": "5",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        DEMO_SERVICE,
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        addr = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                if await health_status(addr) == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.aio.AioRpcError:
                pass
            assert proc.returncode is None, "service exited during start"
            assert time.monotonic() < deadline, "service never became SERVING"
            await asyncio.sleep(0.1)
        async with signed_aio_channel(addr) as ch:
            call = asyncio.ensure_future(ch.unary_unary("/test.Demo/Slow")(b"0.5", timeout=10))
            await asyncio.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            assert await call == b"done"
        _, err = await asyncio.wait_for(proc.communicate(), 10)
        assert proc.returncode == 0, err.decode()
        assert b"drained" in err  # it went through the graceful path, not a default handler
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_rpc_when_servicer_not_built_yet_answers_unimplemented() -> None:
    """A service's generated base class raises NotImplementedError for RPCs not built yet;
    callers must see UNIMPLEMENTED (README's status table), never INTERNAL. The servicer here is
    the bare generated base class, so the test does not depend on which RPCs are built."""
    from mandi.platform.grpc_server import ServiceSpec
    from mandi.v1 import marketdata_pb2, marketdata_pb2_grpc

    bare = marketdata_pb2_grpc.MarketdataServiceServicer()
    spec = ServiceSpec(
        name="bare", service_names=[
            marketdata_pb2.DESCRIPTOR.services_by_name["MarketdataService"].full_name],
        register=lambda server: marketdata_pb2_grpc.add_MarketdataServiceServicer_to_server(
            bare, server))
    settings = load_settings({})
    ready = ServerReady()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(spec, settings, port=0, metrics_port=-1,
                                     ready=ready, stop=stop))
    await ready.wait()
    try:
        async with signed_aio_channel(f"127.0.0.1:{ready.port}") as ch:
            stub = marketdata_pb2_grpc.MarketdataServiceStub(ch)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetLtp(marketdata_pb2.GetLtpRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "GetLtp" in (err.value.details() or "")
    finally:
        stop.set()
        assert await task == 0


async def test_a_close_that_hangs_is_cut_off_and_what_still_ran_is_logged(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """on_stop waiting forever (a pool waiting on a connection a stuck task holds) must not
    keep the process from exiting: after stop_timeout_s serve returns, naming the tasks that
    were still running."""
    import mandi.platform.grpc_server as gs

    monkeypatch.setattr(gs, "stop_timeout_s", lambda _settings: 0.3)
    spec = demo_spec()
    held = asyncio.Event()

    async def stuck_worker() -> None:
        await held.wait()

    async def hangs() -> None:
        worker = asyncio.create_task(stuck_worker(), name="stuck-worker")
        await worker  # never finishes

    spec.on_stop = hangs
    ready, stop = ServerReady(), asyncio.Event()
    task = asyncio.create_task(serve(spec, replace(Settings(), shutdown_grace_s=0.0), port=0,
                                     metrics_port=-1, ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 10)
    stop.set()
    assert await asyncio.wait_for(task, 5) == 0
    [rec] = [r for r in caplog.records if "closing did not finish" in r.getMessage()]
    assert rec.levelname == "ERROR" and "stuck-worker" in rec.getMessage()
    held.set()
