"""End-to-end tick latency kitesim → marketdata → gRPC subscriber at ~20,000 ticks/s
(target: p99 < 5 ms), with the real ingester.

    python bench/bench_marketdata_latency.py [--tokens 200] [--speed 100] [--seconds 10]

Processes, as in production: kitesim replaying a trading day at `--speed` (each subscribed
instrument ticks once per simulated second, so the socket carries tokens × speed ticks/s),
`python -m services.marketdata` (lease → KiteTicker socket → decode → Redis bus → hub → gRPC),
and a client process holding one StreamTicks call — measured alone, then again beside
`--slow` subscribers that never read (their queues fill and conflate; the measured one's p99
must not move beyond noise). For every tick the client computes its
wall-clock time minus `Tick.received_unix_ns`, the instant marketdata read the tick off the
socket: decode, the Redis hop, the hub and gRPC delivery. The kitesim → socket leg is not in the
figure: kitesim sends in 20 ms pumps and a Kite exchange timestamp has 1 s resolution, so neither
can time it; on one machine it is a loopback write. Prints one JSON object; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from mandi.testing.kitesim import kitesim_process  # noqa: E402
from mandi.testing.redis import redis_namespace  # noqa: E402
from mandi.testing.services import service_process  # noqa: E402
from mandi.testing.signed_channel import signed_aio_channel  # noqa: E402
from mandi.v1 import common_pb2, marketdata_pb2, marketdata_pb2_grpc  # noqa: E402

CLIENT = r"""
import asyncio, json, sys, time
import grpc, numpy as np
from mandi.v1 import marketdata_pb2, marketdata_pb2_grpc
from mandi.testing.signed_channel import signed_aio_channel
addr, start_at = sys.argv[1], float(sys.argv[2])
seconds, slow = float(sys.argv[3]), int(sys.argv[4])
async def main():
    lat, n = [], 0
    stalled = []
    for _ in range(slow):  # streams that are opened and never read: their queues fill up
        sch = signed_aio_channel(addr)
        scall = marketdata_pb2_grpc.MarketdataServiceStub(sch).StreamTicks(
            marketdata_pb2.StreamTicksRequest(queue_size=4), timeout=3600)
        await scall.wait_for_connection()
        stalled.append((sch, scall))
    async with signed_aio_channel(addr) as ch:
        call = marketdata_pb2_grpc.MarketdataServiceStub(ch).StreamTicks(
            marketdata_pb2.StreamTicksRequest(), timeout=3600)
        end = start_at + seconds
        async for msg in call:
            now = time.time_ns()
            if now >= end * 1e9:
                break
            if now >= start_at * 1e9:
                n += len(msg.ticks)
                lat.extend(now - t.received_unix_ns for t in msg.ticks)
        call.cancel()
    for sch, scall in stalled:
        scall.cancel()
        await sch.close()
    a = np.asarray(lat, dtype=np.float64) / 1e6
    q = (lambda p: round(float(np.percentile(a, p)), 3)) if len(a) else (lambda p: None)
    print(json.dumps({"ticks": n, "ticks_per_s": round(n / seconds), "p50_ms": q(50),
                      "p99_ms": q(99), "p999_ms": q(99.9),
                      "max_ms": round(float(a.max()), 3) if len(a) else None}))
asyncio.run(main())
"""


async def run(args: argparse.Namespace) -> dict:
    with kitesim_process("--start", "2026-03-04T09:30:00+05:30", "--speed", str(args.speed),
                         "--no-rate-limits", seed=3) as sim:
        kite = sim.kite()
        rows = [r for r in kite.instruments("NSE") if r["segment"] == "NSE"]
        rows += [r for r in kite.instruments("NFO")]  # the equities alone are ~50
        tokens = [int(r["instrument_token"]) for r in rows][:args.tokens]
        async with redis_namespace() as ns:
            env = {"MANDI_REDIS_URL": ns.url, "MANDI_REDIS_PREFIX": ns.prefix.rstrip(":"),
                   "MANDI_KITE_ROOT": sim.url, "MANDI_KITE_WS_ROOT": sim.ws_url,
                   "MANDI_CLOCK": "sim", "MANDI_LOG_LEVEL": "WARNING"}
            with tempfile.TemporaryDirectory() as logs, \
                    service_process("marketdata", env, Path(logs)) as svc:
                async with signed_aio_channel(svc.addr) as ch:
                    stub = marketdata_pb2_grpc.MarketdataServiceStub(ch)
                    await stub.Subscribe(marketdata_pb2.SubscribeRequest(
                        instruments=[common_pb2.InstrumentRef(instrument_token=t)
                                     for t in tokens],
                        mode=marketdata_pb2.TICK_MODE_QUOTE), timeout=30)
                runs = {}
                for label, slow in (("alone", 0), (f"beside_{args.slow}_stalled", args.slow)):
                    start_at = time.time() + 3.0  # the socket subscribes and settles first
                    client = await asyncio.create_subprocess_exec(
                        sys.executable, "-c", CLIENT, svc.addr, str(start_at),
                        str(args.seconds), str(slow), stdout=asyncio.subprocess.PIPE, cwd=ROOT,
                        env={**svc.env})
                    out, _ = await asyncio.wait_for(client.communicate(), args.seconds + 60)
                    runs[label] = json.loads(out)
    return {"instruments": len(tokens), "speed": args.speed,
            "offered_ticks_per_s": len(tokens) * args.speed, **runs}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--speed", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--slow", type=int, default=3,
                   help="stalled subscribers beside the measured one in the second run")
    print(json.dumps(asyncio.run(run(p.parse_args())), indent=2))


if __name__ == "__main__":
    main()
