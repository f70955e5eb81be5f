"""The machine's floor for issue #17's order path (`make bench`): what the *shape* of a REST order
costs here with none of Mandi's own work in it, measured exactly as `bench_load.py` measures the
real one (aiohttp client, open loop at BENCH_FLOOR_RATE (50) requests a second for
BENCH_FLOOR_SECONDS (20), latency from each request's scheduled send).

Three processes, as deployed: this client; an HTTP front (uvicorn with uvloop and httptools, a
bare ASGI app: no framework, no middleware, no auth); a gRPC back (grpc.aio, one generic unary
method) holding an asyncpg pool on a fresh database. Paths, each run on its own:

- `http`: the front answers at once (the HTTP floor);
- `grpc`: the front makes one gRPC call, the back answers at once (adds the service hop);
- `commit`: as `grpc`, and the back commits one row with the WAL flushed (PostgreSQL's
  default, and what an accepted order's own row needs);
- `order`: the front makes one gRPC call and the back makes the round trips an accepted paper
  order makes, with the real path's commit modes: one Redis round trip (the orders/s limiter),
  the preflight read, the order row's insert committed with the WAL flushed (the one durable
  commit), the paper book's insert and the acknowledgement's update with
  `synchronous_commit = off` (execution's relaxed pool). Five round trips, as the real path
  has at the least.

If the `order` line's p99 is above the target with none of Mandi's code running, the target is
out of reach of this process layout on this machine, whatever the code does.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RATE = float(os.environ.get("BENCH_FLOOR_RATE", "50"))
SECONDS = float(os.environ.get("BENCH_FLOOR_SECONDS", "20"))
METHOD = "/floor.Floor/Call"
SCHEMA = ("CREATE TABLE IF NOT EXISTS floor_orders (id bigserial PRIMARY KEY, account text,"
          " status text, body jsonb, updated_at timestamptz DEFAULT now())")


async def back(port: int, dsn: str) -> None:
    """The gRPC back: `grpc` answers at once; `order` makes the accepted order's round trips."""
    import asyncpg
    import grpc
    import redis.asyncio as aioredis

    pool = await asyncpg.create_pool(dsn, min_size=4, max_size=10)
    relaxed = await asyncpg.create_pool(dsn, min_size=2, max_size=10,
                                        server_settings={"synchronous_commit": "off"})
    redis = aioredis.Redis(host="127.0.0.1", port=6379)
    await pool.execute(SCHEMA)

    async def call(request: bytes, _ctx: object) -> bytes:
        if request[:1] == b"g":
            return b"ok"
        account = request[1:].decode()
        if request[:1] == b"c":  # the durable commit alone
            return str(await pool.fetchval("INSERT INTO floor_orders (account, status, body)"
                                           " VALUES ($1, 'PUT', '{}') RETURNING id",
                                           account)).encode()
        await redis.set(f"mandi-floor:{account}", 1, ex=60)  # the limiter's one round trip
        await pool.fetchval("SELECT count(*) FROM floor_orders WHERE account = $1"
                            " AND status = 'OPEN' AND id < 0", account)
        oid = await pool.fetchval("INSERT INTO floor_orders (account, status, body)"
                                  " VALUES ($1, 'PUT', '{}') RETURNING id", account)
        await relaxed.execute("INSERT INTO floor_orders (account, status, body)"
                              " VALUES ($1, 'BOOK', '{}')", account)
        await relaxed.execute("UPDATE floor_orders SET status = 'ACK', updated_at = now()"
                              " WHERE id = $1", oid)
        return str(oid).encode()

    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        "floor.Floor", {"Call": grpc.unary_unary_rpc_method_handler(call)})])
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


def front(port: int, back_port: int) -> None:
    """The HTTP front: a bare ASGI app on uvicorn (uvloop, httptools)."""
    import grpc
    import uvicorn

    state: dict[str, object] = {}

    async def app(scope: dict, receive: object, send: object) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()  # type: ignore[operator]
                if msg["type"] == "lifespan.startup":
                    ch = grpc.aio.insecure_channel(f"127.0.0.1:{back_port}")
                    state["call"] = ch.unary_unary(METHOD)
                    await send({"type": "lifespan.startup.complete"})  # type: ignore[operator]
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})  # type: ignore[operator]
                    return
        body = b""
        while True:
            msg = await receive()  # type: ignore[operator]
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        path = scope["path"]
        out = {"ok": True}
        if path != "/http":
            req = json.loads(body or b"{}")
            what = {"/order": b"o", "/commit": b"c"}.get(path, b"g") + req.get(
                "account", "A").encode()
            out["id"] = (await state["call"](what, timeout=10)).decode()  # type: ignore[operator]
        data = json.dumps(out).encode()
        await send({"type": "http.response.start", "status": 201,  # type: ignore[operator]
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": data})  # type: ignore[operator]

    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                log_level="warning")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))]


async def measure(url: str, path: str) -> list[float]:
    import aiohttp

    lat: list[float] = []
    n = int(RATE * SECONDS)
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=256)) as s:
        for _ in range(50):  # warm-up: connections, the pool, prepared statements
            async with s.post(path, json={"account": "W"}) as r:
                await r.read()
        start = time.perf_counter() + 0.2

        async def one(i: int) -> None:
            at = start + i / RATE
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            async with s.post(path, json={"account": f"L{i % 50:02d}"}) as r:
                assert r.status == 201, await r.text()
                await r.read()
            lat.append((time.perf_counter() - at) * 1000)

        await asyncio.gather(*(one(i) for i in range(n)))
    return lat


async def wait_http(url: str) -> None:
    import aiohttp

    for _ in range(200):
        try:
            async with aiohttp.ClientSession(url) as s, s.post("/http") as r:
                if r.status == 201:
                    return
        except aiohttp.ClientError:
            await asyncio.sleep(0.05)
    raise RuntimeError("the HTTP front did not start")


async def main() -> None:
    from mandi.testing.kitesim import free_port
    from mandi.testing.pg import fresh_database

    print(f"floor (load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)")
    back_port, front_port = free_port(), free_port()
    me = [sys.executable, __file__]
    async with fresh_database() as dsn:
        b = await asyncio.create_subprocess_exec(*me, "back", str(back_port), dsn,
                                                 stdout=asyncio.subprocess.PIPE)
        f = None
        try:
            assert b.stdout is not None and (await b.stdout.readline()).strip() == b"ready"
            f = await asyncio.create_subprocess_exec(*me, "front", str(front_port),
                                                     str(back_port))
            url = f"http://127.0.0.1:{front_port}"
            await wait_http(url)
            for path in ("/http", "/grpc", "/commit", "/order"):
                lat = await measure(url, path)
                print(f"  {path[1:]:6} {RATE:g}/s for {SECONDS:g} s: n={len(lat)} "
                      f"p50={statistics.median(lat):.1f} ms p99={pct(lat, 99):.1f} ms "
                      f"max={max(lat):.1f} ms")
        finally:
            for p in (f, b):
                if p is not None:
                    p.terminate()
                    await p.wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["back"]:
        import uvloop

        uvloop.run(back(int(sys.argv[2]), sys.argv[3]))
    elif sys.argv[1:2] == ["front"]:
        front(int(sys.argv[2]), int(sys.argv[3]))
    else:
        asyncio.run(main())
