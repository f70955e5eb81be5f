"""Metrics and traces: Prometheus RED metrics for RPCs, OpenTelemetry tracing, and W3C trace
context carried in gRPC metadata.

The RED metrics are module-level so every interceptor in a process shares them, and dashboards
can rely on the same names across services. A TracerProvider is installed even when no exporter
is configured, so trace ids are still created and propagated across services (and a later
exporter change needs no code change).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

# --- Prometheus ----------------------------------------------------------------------------
RPC_REQUESTS = Counter(
    "mandi_rpc_requests",  # exported as mandi_rpc_requests_total
    "gRPC calls handled, by final status code.",
    ["service", "method", "code"],
)
RPC_DURATION = Histogram(
    "mandi_rpc_duration_seconds",
    "Time from receiving a gRPC call to its final status (whole stream for streaming calls).",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RPC_IN_FLIGHT = Gauge("mandi_rpc_in_flight", "gRPC calls being handled now.", ["service"])


@dataclass
class MetricsServer:
    """A running `/metrics` endpoint; `port` is the bound port (useful when asked for 0)."""

    port: int
    _server: Any
    _thread: Any

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(port: int, addr: str = "127.0.0.1") -> MetricsServer:
    """Serve the default Prometheus registry at http://addr:port/metrics in a daemon thread
    (loopback unless told otherwise: the platform passes the service's listen host)."""
    server, thread = start_http_server(port, addr=addr)
    bound = server.server_address[1]
    log.info("metrics on http://%s:%d/metrics", addr, bound)
    return MetricsServer(port=bound, _server=server, _thread=thread)


# --- tracing -------------------------------------------------------------------------------
def setup_tracing(service: str, exporter: str, endpoint: str | None = None) -> TracerProvider:
    """Install the global TracerProvider for `service` with the chosen exporter.

    exporter: "none" (ids and propagation only), "console" (spans to stdout, for debugging), or
    "otlp" (batched gRPC export to `endpoint`, e.g. an OpenTelemetry collector).
    """
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.namespace": "mandi"})
    )
    kind = str(exporter).lower()
    if kind == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif kind == "otlp":
        # Imported lazily: the OTLP exporter pulls in a second gRPC stack we rarely need.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True))
        )
    elif kind != "none":
        raise ValueError(f"unknown trace exporter {exporter!r}; expected none|console|otlp")
    trace.set_tracer_provider(provider)
    return provider


def shutdown_tracing() -> None:
    """Flush and stop span export (call at process exit so the last spans are not lost)."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        shutdown()


class _MetadataGetter(Getter[Sequence[tuple[str, Any]]]):
    def get(self, carrier: Sequence[tuple[str, Any]], key: str) -> list[str] | None:
        values = [_as_str(v) for k, v in carrier if k.lower() == key]
        return values or None

    def keys(self, carrier: Sequence[tuple[str, Any]]) -> list[str]:
        return [k for k, _ in carrier]


_GETTER = _MetadataGetter()


def _as_str(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def inject_trace_metadata(
    metadata: Iterable[tuple[str, Any]] | None = None, ctx: otel_context.Context | None = None
) -> list[tuple[str, Any]]:
    """Metadata plus `traceparent` (and `tracestate`/`baggage`) for the current or given context.

    Existing propagation keys are replaced, other entries kept in order.
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    kept = [(k, v) for k, v in (metadata or ()) if k.lower() not in carrier]
    return kept + list(carrier.items())


def extract_trace_context(metadata: Sequence[tuple[str, Any]] | None) -> otel_context.Context:
    """The remote parent context carried in incoming gRPC metadata (empty if there is none)."""
    return propagate.extract(list(metadata or ()), getter=_GETTER)
