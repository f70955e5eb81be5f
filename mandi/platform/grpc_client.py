"""Channels for calling other Mandi services.

Every outgoing call gets a deadline (DESIGN.md: no call may wait forever on a stuck peer) and
carries the caller's trace context, so a request is one trace across services. Every call is
signed (mandi/platform/service_auth.py): as the user the caller names in plain principal metadata
(the gateway's), else as the calling service itself, since services refuse unsigned calls. All of
it is done by interceptors, so generated stubs are used unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
from opentelemetry import trace

from mandi.platform.config import Settings
from mandi.platform.grpc_server import MAX_MESSAGE_BYTES
from mandi.platform.service_auth import service_key, signing_interceptors
from mandi.platform.telemetry import inject_trace_metadata

_tracer = trace.get_tracer("mandi.platform.grpc")


class _Base:
    def __init__(self, default_timeout_s: float) -> None:
        self.default_timeout_s = default_timeout_s

    def _start(self, details: grpc.aio.ClientCallDetails) -> tuple[Any, Any]:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        label = method.lstrip("/")
        rpc_service, _, rpc_method = label.partition("/")
        span = _tracer.start_span(
            label,
            kind=trace.SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": rpc_service, "rpc.method": rpc_method},
        )
        metadata = inject_trace_metadata(
            list(details.metadata or ()), ctx=trace.set_span_in_context(span)
        )
        new_details = grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=details.timeout if details.timeout is not None else self.default_timeout_s,
            metadata=grpc.aio.Metadata(*metadata),
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )
        return span, new_details

    async def _traced(self, continuation: Any, details: Any, request: Any) -> Any:
        """The call (any of the four kinds) in a client span, ended when the call is done."""
        span, details = self._start(details)
        try:
            call = await continuation(details, request)
        except BaseException:
            span.end()
            raise
        return self._end_when_done(span, call)

    @staticmethod
    def _end_when_done(span: Any, call: Any) -> Any:
        add = getattr(call, "add_done_callback", None)
        if add is None:
            span.end()
        else:
            # aio's code() is a coroutine, so the status is read in a task once the call is done.
            add(lambda finished: _spawn(_end_span(span, finished)))
        return call


_pending: set[asyncio.Task[None]] = set()


def _spawn(coro: Any) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _pending.add(task)  # keep a reference until done, or the task may be collected mid-way
    task.add_done_callback(_pending.discard)


async def _end_span(span: Any, call: Any) -> None:
    try:
        code = await call.code()
    except BaseException:  # cancelled before a status arrived
        code = grpc.StatusCode.CANCELLED
    if isinstance(code, grpc.StatusCode):
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code is not grpc.StatusCode.OK:
            span.set_status(trace.Status(trace.StatusCode.ERROR, code.name))
    span.end()


class _UnaryUnary(_Base, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await self._traced(continuation, details, request)


class _UnaryStream(_Base, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await self._traced(continuation, details, request)


class _StreamUnary(_Base, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self, continuation: Any, details: Any, request_iterator: Any
    ) -> Any:
        return await self._traced(continuation, details, request_iterator)


class _StreamStream(_Base, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self, continuation: Any, details: Any, request_iterator: Any
    ) -> Any:
        return await self._traced(continuation, details, request_iterator)


# The deadline of a stream that lives as long as its process (StreamTicks, StreamCandles, order
# events, bot state): gRPC needs one, and the default `rpc_timeout_s` would cut such a stream
# every minute.
STREAM_TIMEOUT_S = 365 * 86400.0
# the initial-metadata key under which a resumable stream (execution's StreamOrderEvents)
# names the cursor it starts from, so its client can resume after a reconnect
EVENT_CURSOR_KEY = "mandi-event-cursor"


def client_interceptors(default_timeout_s: float) -> list[grpc.aio.ClientInterceptor]:
    """The interceptors `channel` installs; exposed for callers building channels themselves."""
    return [
        _UnaryUnary(default_timeout_s),
        _UnaryStream(default_timeout_s),
        _StreamUnary(default_timeout_s),
        _StreamStream(default_timeout_s),
    ]


def channel(addr: str, settings: Settings, *, timeout_s: float | None = None,
            caller: str = "service",
            signer: Sequence[grpc.aio.ClientInterceptor] | None = None,
            extra_interceptors: Sequence[grpc.aio.ClientInterceptor] = ()) -> grpc.aio.Channel:
    """An insecure channel to `addr` (`host:port`) whose calls default to a deadline of
    `timeout_s` (default `settings.rpc_timeout_s`) when the caller gives none.

    Calls are signed with the services' shared key: as the user in a call's plain principal
    metadata, else as the service `caller` (`svc:<caller>`); `signer` replaces that signing.
    `extra_interceptors` run too, before the signer.

    Streaming calls get the default too. gRPC cannot tell "no timeout" from "not given", so
    long-lived streams (StreamTicks, order events) pass an explicit large `timeout=` per call.
    """
    return grpc.aio.insecure_channel(
        addr,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
        interceptors=[
            *client_interceptors(timeout_s if timeout_s is not None else settings.rpc_timeout_s),
            *extra_interceptors,
            *(signer if signer is not None
              else signing_interceptors(service_key(settings), service=caller)),
        ],
    )
