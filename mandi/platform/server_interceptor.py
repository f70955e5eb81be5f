"""The server interceptor every Mandi service runs: RED metrics, a server span per call, domain
errors turned into status codes, and the caller's signed principal verified (service_auth.py).

One interceptor does all of it so they agree on the final status of a call: the code the
metrics count and the span records is the code the client receives. It wraps all four handler
shapes (unary/stream × unary/stream), and streaming handlers written either as async generators
or as coroutines using `context.write`, so servicers just raise `MandiError`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace

from mandi.platform import status, telemetry
from mandi.platform.service_auth import (
    CallPrincipal,
    reset_principal,
    set_principal,
    verify_call,
)

log = logging.getLogger(__name__)

# Probes and reflection are infrastructure: counted in metrics, but not worth a span each.
UNTRACED_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class PlatformServerInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every handler of a server belonging to `service` (the metric `service` label).

    `service_key` verifies `mandi-principal`; without one, any call carrying a principal is
    refused. A call carrying none is refused too (health and reflection excepted) unless
    `allow_unsigned` (MANDI_GRPC_ALLOW_UNSIGNED), when it runs as the system."""

    def __init__(self, service: str, service_key: bytes | None = None, *,
                 allow_unsigned: bool = False) -> None:
        self.service = service
        self.service_key = service_key
        self.allow_unsigned = allow_unsigned
        self._tracer = trace.get_tracer("mandi.platform.grpc")

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:  # unknown method: grpc answers UNIMPLEMENTED itself
            return None
        method = handler_call_details.method
        method = method.decode() if isinstance(method, bytes) else method
        metadata = tuple(handler_call_details.invocation_metadata or ())
        observer = _CallObserver(self, method, metadata)
        try:
            observer.principal = verify_call(self.service_key, metadata, method,
                                             allow_unsigned=self.allow_unsigned)
        except Exception as exc:  # AuthError: raised inside observe(), so it is counted
            observer.refusal = exc
        return _wrap(handler, observer)


class _CallObserver:
    def __init__(
        self, owner: PlatformServerInterceptor, method: str, metadata: tuple[Any, ...]
    ) -> None:
        self.owner = owner
        self.method = method
        self.label = method.lstrip("/")
        self.metadata = metadata
        self.principal: CallPrincipal | None = None
        self.refusal: Exception | None = None

    @asynccontextmanager
    async def observe(self, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        service = self.owner.service
        started = time.perf_counter()
        telemetry.RPC_IN_FLIGHT.labels(service).inc()
        span = None
        token = None
        if not self.method.startswith(UNTRACED_PREFIXES):
            rpc_service, _, rpc_method = self.label.partition("/")
            span = self.owner._tracer.start_span(
                self.label,
                context=telemetry.extract_trace_context(self.metadata),
                kind=trace.SpanKind.SERVER,
                attributes={
                    "rpc.system": "grpc",
                    "rpc.service": rpc_service,
                    "rpc.method": rpc_method,
                },
            )
            token = otel_context.attach(trace.set_span_in_context(span))
        code = grpc.StatusCode.OK
        who = set_principal(self.principal) if self.principal is not None else None
        try:
            try:
                if self.refusal is not None:
                    raise self.refusal
                yield
            except asyncio.CancelledError:
                code = _cancel_code(context)
                raise
            except grpc.aio.AbortError:  # the servicer aborted with a code of its own
                code = _code_of(context) or grpc.StatusCode.UNKNOWN
                raise
            except NotImplementedError:
                # The generated base servicer's answer for an RPC not built yet: honest
                # UNIMPLEMENTED, not an internal error.
                code = grpc.StatusCode.UNIMPLEMENTED
                await context.abort(code, f"{self.label} is not implemented yet")
            except Exception as exc:
                code = status.status_of(exc)
                if code is grpc.StatusCode.INTERNAL:
                    log.exception("unhandled error in %s", self.label)
                elif isinstance(exc, status.STORE_UNAVAILABLE):
                    log.warning("%s: store unavailable: %s: %s", self.label,
                                type(exc).__name__, exc)
                if span is not None and code in _SERVER_FAULTS:
                    span.record_exception(exc)  # with its traceback: a fault of ours
                elif span is not None:  # the caller's error (a refused order): no traceback,
                    # whose formatting (Python 3.11 parses source for its carets) cost a
                    # refused order more than refusing it
                    span.add_event("exception", {"exception.type": type(exc).__name__,
                                                 "exception.message": str(exc)})
                await context.abort(code, status.details_of(exc), status.trailers_of(exc))
            else:
                code = _code_of(context) or grpc.StatusCode.OK
        finally:
            elapsed = time.perf_counter() - started
            telemetry.RPC_IN_FLIGHT.labels(service).dec()
            telemetry.RPC_REQUESTS.labels(service, self.label, code.name).inc()
            telemetry.RPC_DURATION.labels(service, self.label).observe(elapsed)
            if span is not None:
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code in _SERVER_FAULTS:
                    span.set_status(trace.Status(trace.StatusCode.ERROR, code.name))
                span.end()
            if token is not None:
                _detach(token)
            if who is not None:
                reset_principal(who)


# Codes that mean *we* failed; client mistakes (INVALID_ARGUMENT, NOT_FOUND...) are not span errors.
_SERVER_FAULTS = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNIMPLEMENTED,
}


def _code_of(context: grpc.aio.ServicerContext) -> grpc.StatusCode | None:
    try:
        code = context.code()
    except Exception:
        return None
    if code is None or isinstance(code, grpc.StatusCode):
        return code
    for candidate in grpc.StatusCode:  # some grpc versions hand back the raw integer
        if candidate.value[0] == code:
            return candidate
    return None


def _cancel_code(context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    try:
        remaining = context.time_remaining()
    except Exception:
        remaining = None
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def _detach(token: object) -> None:
    """Reset the span's context. A server stream whose client went away mid-write is left
    suspended by gRPC and closed later by the event loop's async-generator finaliser, in
    another task's Context, where the token cannot be reset; OpenTelemetry's detach would then
    log an ERROR with a traceback for every such stream. Its runtime context is a ContextVar,
    so reset the token directly and let that one case pass: the Context it belonged to is gone
    with its task."""
    if not isinstance(token, contextvars.Token):
        otel_context.detach(token)  # type: ignore[arg-type]
        return
    with contextlib.suppress(ValueError):
        token.var.reset(token)


class _ClientGoneFilter(logging.Filter):
    """gRPC logs a failed write to a stream whose client has gone (cancelled, deadline, reset)
    as an ERROR with a traceback; for a server it is ordinary, so it is logged at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and str(record.msg).startswith(
                "ExecuteBatchError raised in core by servicer method"):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info = record.exc_text = None
        return True


logging.getLogger("grpc._cython.cygrpc").addFilter(_ClientGoneFilter())


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _wrap(handler: grpc.RpcMethodHandler, observer: _CallObserver) -> grpc.RpcMethodHandler:
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        unary_unary = handler.unary_unary

        async def uu(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with observer.observe(context):
                return await _maybe_await(unary_unary(request, context))

        return grpc.unary_unary_rpc_method_handler(uu, **kwargs)
    if handler.stream_unary is not None:
        stream_unary = handler.stream_unary

        async def su(request_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
            async with observer.observe(context):
                return await _maybe_await(stream_unary(request_iterator, context))

        return grpc.stream_unary_rpc_method_handler(su, **kwargs)
    if handler.unary_stream is not None:
        unary_stream = handler.unary_stream

        async def us(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async with observer.observe(context):
                async for item in _responses(unary_stream(request, context)):
                    yield item

        return grpc.unary_stream_rpc_method_handler(us, **kwargs)
    if handler.stream_stream is not None:
        stream_stream = handler.stream_stream

        async def ss(
            request_iterator: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            async with observer.observe(context):
                async for item in _responses(stream_stream(request_iterator, context)):
                    yield item

        return grpc.stream_stream_rpc_method_handler(ss, **kwargs)
    return handler


async def _responses(result: Any) -> AsyncIterator[Any]:
    """Responses of a streaming handler, whether it is an async generator, a sync iterable, or a
    coroutine that sends with `context.write` (which yields nothing here)."""
    if hasattr(result, "__aiter__"):
        async for item in result:
            yield item
    elif inspect.isawaitable(result):
        await result
    elif result is not None:
        for item in result:
            yield item
