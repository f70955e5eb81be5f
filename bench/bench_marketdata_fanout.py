"""Ticks/s the marketdata fan-out delivers to concurrent StreamTicks subscribers over real gRPC.

    python bench/bench_marketdata_fanout.py [--subscribers 10] [--rate 120000] [--batch 500]
                                            [--mode quote] [--seconds 10]

Three processes, as in production: `python -m services.marketdata` (hub + gRPC, one core), this
process publishing tick batches to Redis the way the ingester does (MarketBus.publish_ticks, at
`--rate` ticks/s in batches of `--batch`), and a client process holding `--subscribers`
StreamTicks calls that parses every message and counts ticks and `dropped`. The figure is ticks
parsed by all subscribers per second over the measured window (target: >= 1,000,000/s for 10
subscribers). `dropped` > 0 means the server fell behind and conflated, so the offered rate is
above what it sustains; lower --rate until it is 0 to find the sustained figure.
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

import numpy as np  # noqa: E402

from mandi.platform.redis import create_redis  # noqa: E402
from mandi.testing.redis import redis_namespace  # noqa: E402
from mandi.testing.services import service_process  # noqa: E402
from mandi.testing.ticks import make_batch  # noqa: E402
from services.marketdata.bus import MarketBus  # noqa: E402

MODES = {"ltp": 1, "quote": 2, "full": 3}

CLIENT = r"""
import asyncio, json, sys, time
import grpc
from mandi.v1 import marketdata_pb2, marketdata_pb2_grpc
from mandi.testing.signed_channel import signed_aio_channel
addr, n, start_at, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
async def one(stub, out):
    call = stub.StreamTicks(marketdata_pb2.StreamTicksRequest(), timeout=3600)
    end = start_at + seconds
    async for msg in call:
        now = time.time()
        if now >= end:
            break
        if now >= start_at:
            out["ticks"] += len(msg.ticks); out["dropped"] += msg.dropped; out["messages"] += 1
    call.cancel()
async def main():
    opts = [("grpc.max_receive_message_length", 64 << 20)]
    chans = [signed_aio_channel(addr, options=opts) for _ in range(n)]
    outs = [{"ticks": 0, "dropped": 0, "messages": 0} for _ in range(n)]
    await asyncio.gather(*[one(marketdata_pb2_grpc.MarketdataServiceStub(c), o)
                           for c, o in zip(chans, outs)])
    print(json.dumps(outs)); sys.stdout.flush()
asyncio.run(main())
"""


async def publish(bus: MarketBus, rate: float, batch: int, mode: int, until: float) -> int:
    tokens = np.arange(1, 3001, dtype=np.int64) * 256 + 1
    batches = [make_batch(tokens[(i * batch) % 3000:][:batch], mode, seed=i) for i in range(12)]
    sent, t0 = 0, time.monotonic()
    i = 0
    while time.time() < until:
        await bus.publish_ticks(batches[i % len(batches)])
        i += 1
        sent += batch
        ahead = sent / rate - (time.monotonic() - t0)
        if ahead > 0:
            await asyncio.sleep(ahead)
    return sent


async def run(args: argparse.Namespace) -> dict:
    async with redis_namespace() as ns:
        prefix = ns.prefix.rstrip(":")
        env = {"MANDI_REDIS_URL": ns.url, "MANDI_REDIS_PREFIX": prefix,
               "MANDI_LOG_LEVEL": "WARNING"}
        with tempfile.TemporaryDirectory() as logs, \
                service_process("marketdata", env, Path(logs)) as svc:
            redis = create_redis(ns.url, decode_responses=False)
            bus = MarketBus(redis, prefix)
            start_at = time.time() + 3.0  # clients connect and the publisher warms up first
            client = await asyncio.create_subprocess_exec(
                sys.executable, "-c", CLIENT, svc.addr, str(args.subscribers), str(start_at),
                str(args.seconds), stdout=asyncio.subprocess.PIPE, cwd=ROOT, env={**svc.env})
            sent = await publish(bus, args.rate, args.batch, MODES[args.mode],
                                 start_at + args.seconds + 1.0)
            out, _ = await asyncio.wait_for(client.communicate(), 60)
            await redis.aclose()
    subs = json.loads(out)
    ticks = sum(s["ticks"] for s in subs)
    return {"subscribers": args.subscribers, "mode": args.mode, "batch": args.batch,
            "offered_ticks_per_s": args.rate, "published_ticks": sent,
            "delivered_ticks_per_s": round(ticks / args.seconds),
            "per_subscriber_ticks_per_s": round(ticks / args.seconds / args.subscribers),
            "dropped": sum(s["dropped"] for s in subs),
            "messages": sum(s["messages"] for s in subs)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subscribers", type=int, default=10)
    p.add_argument("--rate", type=float, default=120_000, help="ticks/s published")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--mode", choices=sorted(MODES), default="quote")
    p.add_argument("--seconds", type=float, default=10.0)
    print(json.dumps(asyncio.run(run(p.parse_args())), indent=2))


if __name__ == "__main__":
    main()
