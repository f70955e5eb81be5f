"""Entry point: `python -m services.gateway`. Only wiring lives here."""

import asyncio
import gc

import uvloop

from mandi.platform.grpc_server import run_service
from services.gateway.server import build_spec

# A gateway holding a thousand WebSockets keeps many long-lived objects; with CPython's
# default thresholds (700, 10, 10) a full collection every few seconds stopped every socket's
# messages for ~150 ms (bench_ws: a round's last receipts at 200-230 ms, p99 up to 220 ms;
# 55-61 ms with the collector disabled). Fewer, larger young collections and rarer full ones:
# p99 51-94 ms, max 55-102 ms (BENCHMARKS.md).
GC_THRESHOLDS = (50_000, 20, 100)

if __name__ == "__main__":
    gc.set_threshold(*GC_THRESHOLDS)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    run_service(build_spec)
