"""Entry point: `python -m services.gateway`. Only wiring lives here."""

import gc

from mandi.platform.grpc_server import run_service
from services.gateway.server import build_spec

# A gateway holding a thousand WebSockets keeps ~10^6 long-lived objects; with CPython's
# default thresholds (700, 10, 10) the cyclic collector walked them all every few seconds — a
# ~170 ms stop of every socket's messages (bench_ws: p99 190-220 ms, 60 ms with the collector
# off). Fewer, larger young collections and rarer full ones: p99 62-94 ms, max 68-102 ms.
GC_THRESHOLDS = (50_000, 20, 100)

if __name__ == "__main__":
    gc.set_threshold(*GC_THRESHOLDS)
    run_service(build_spec)
