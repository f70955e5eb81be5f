"""Trace context survives a trip through gRPC metadata."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from mandi.platform.telemetry import extract_trace_context, inject_trace_metadata


def test_inject_then_extract_round_trips_the_span_context() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("parent") as span:
        md = inject_trace_metadata([("x-client", "cli"), ("traceparent", "stale")])
    keys = [k for k, _ in md]
    assert keys.count("traceparent") == 1 and md[0] == ("x-client", "cli")
    ctx = extract_trace_context([(k, v.encode() if k == "traceparent" else v) for k, v in md])
    remote = trace.get_current_span(ctx).get_span_context()
    assert remote.trace_id == span.get_span_context().trace_id
    assert remote.span_id == span.get_span_context().span_id
    assert remote.is_remote


def test_extract_without_metadata_gives_no_parent() -> None:
    ctx = extract_trace_context(None)
    assert not trace.get_current_span(ctx).get_span_context().is_valid
