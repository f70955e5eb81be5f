"""A local OTLP/gRPC trace receiver (the collector's `otlp` receiver, in-process) for tests:
services started with MANDI_TRACE_EXPORTER=otlp and MANDI_OTLP_ENDPOINT=<receiver.endpoint>
export their spans to it, and the test reads them back as plain records."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from mandi.testing.kitesim import free_port


@dataclass(frozen=True)
class Span:
    service: str  # the resource's service.name
    name: str
    kind: int  # opentelemetry.proto.trace.v1.Span.SpanKind
    trace_id: str
    span_id: str
    parent_id: str


@dataclass
class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    endpoint: str = ""
    spans: list[Span] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def Export(self, request, context):  # the gRPC method's name
        got = []
        for rs in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                got += [Span(attrs.get("service.name", ""), s.name, s.kind, s.trace_id.hex(),
                             s.span_id.hex(), s.parent_span_id.hex()) for s in ss.spans]
        with self.lock:
            self.spans += got
        return trace_service_pb2.ExportTraceServiceResponse()

    def snapshot(self) -> list[Span]:
        with self.lock:
            return list(self.spans)


@contextlib.contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    port = free_port()
    receiver = Receiver(endpoint=f"http://127.0.0.1:{port}")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        yield receiver
    finally:
        server.stop(None)
