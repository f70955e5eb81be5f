"""WebSocket fan-out benchmark (`make bench`): 1,000 clients on `/ws/orders` of one gateway
process; the time from PlaceOrder to the order's event arriving at each client.

The gateway runs as its own process (`python -m services.gateway`, as deployed) in front of the
real execution service (Engine + PaperBroker on PostgreSQL and Redis, served over gRPC in this
process). The clients — the `websockets` library, permessage-deflate on as browsers negotiate
it — live in this process too. Each round places one LIMIT order that rests (its OPEN event is
published once the paper broker acknowledges it) and waits until every client has it.
Latency = receipt at the client − the moment PlaceOrder was called, so it includes execution,
Redis, the gateway's fan-out and the clients' own event loop.

Target (issue #14): p99 < 100 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.paper_execution import paper_execution
from mandi.core.clock import IST, TestClock
from mandi.platform.migrations import run_migrations
from mandi.platform.protoconv import symbol_ref
from mandi.testing.gateway_auth import TEST_ADMIN_PASSWORD
from mandi.testing.kitesim import free_port
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from mandi.testing.services import service_process
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import execution_pb2 as pb
from mandi.v1 import execution_pb2_grpc
from services.execution.accounts import RiskLimits
from services.execution.marketdata import ManualMarketData

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "execution" / "migrations"
CLIENTS = int(os.environ.get("BENCH_WS_CLIENTS", "1000"))
ROUNDS = int(os.environ.get("BENCH_WS_ROUNDS", "30"))
ACCOUNT = "WSBENCH"
# clients offer permessage-deflate as browsers do (the gateway declines it, server.py)
COMPRESSION = None if os.environ.get("BENCH_WS_DEFLATE", "1") == "0" else "deflate"
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=IST)
INSTRUMENTS = [{"exchange": "NSE", "tradingsymbol": "SBIN", "name": "SBI",
                "instrument_type": "EQ", "segment": "NSE", "tick_size": 0.05, "lot_size": 1,
                "instrument_token": 779521}]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))]


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Client:
    def __init__(self) -> None:
        self.seen: dict[str, float] = {}  # order_id -> perf_counter at receipt
        self.snapshot = asyncio.Event()

    async def run(self, url: str) -> None:
        async with websockets.connect(url, open_timeout=60, max_queue=None,
                                      compression=COMPRESSION) as ws:
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "snapshot":
                    self.snapshot.set()
                elif msg["type"] == "order":
                    self.seen.setdefault(msg["data"]["order_id"], time.perf_counter())


async def _connect_all(url: str) -> tuple[list[Client], list[asyncio.Task[None]]]:
    clients = [Client() for _ in range(CLIENTS)]
    tasks = []
    for i in range(0, CLIENTS, 100):  # in waves: the handshakes share the gateway's one core
        for c in clients[i:i + 100]:
            tasks.append(asyncio.create_task(c.run(url)))
        await asyncio.wait_for(asyncio.gather(*(c.snapshot.wait() for c in clients[i:i + 100])),
                               120)
    return clients, tasks


async def bench(ledger: str, gw_db: str) -> dict[str, float]:
    clock = TestClock(NOW)
    data = ManualMarketData(INSTRUMENTS)
    data.set_quote("NSE:SBIN", 81235, bid_paise=81230, ask_paise=81240)
    limits = RiskLimits(max_order_value_paise=10**12, max_capital_per_position_paise=10**12,
                        max_orders_per_second=1000)
    async with redis_namespace() as ns, \
            paper_execution(ledger, ns.client, ns.prefix, clock, data, [ACCOUNT],
                            limits) as (_engine, port):
        http_port = free_port()
        env = {"MANDI_PG_DSN": gw_db, "MANDI_REDIS_URL": ns.url,
               "MANDI_REDIS_PREFIX": ns.prefix + "gw", "MANDI_GATEWAY_PORT": str(http_port),
               "MANDI_EXECUTION_ADDR": f"127.0.0.1:{port}",
               "MANDI_GATEWAY_RATE_IP": "off", "MANDI_GATEWAY_RATE_USER": "off",
               "MANDI_GATEWAY_WS_QUEUE": "256", "MANDI_LOG_LEVEL": "WARNING",
               **{f"MANDI_{s}_ADDR": "127.0.0.1:1" for s in ("HISTORY", "MARKETDATA",
                                                            "STRATEGY")}}
        with tempfile.TemporaryDirectory() as logs, \
                service_process("gateway", env, Path(logs)) as gateway:
            base = f"http://127.0.0.1:{http_port}"
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                r = await http.post("/api/v1/auth/login", json={
                    "username": "admin", "password": TEST_ADMIN_PASSWORD})
                token = r.json()["access_token"]
            url = f"ws://127.0.0.1:{http_port}/ws/orders?account_id={ACCOUNT}&token={token}"
            t0 = time.perf_counter()
            clients, tasks = await _connect_all(url)
            connect_s = time.perf_counter() - t0
            channel = signed_aio_channel(f"127.0.0.1:{port}")
            stub = execution_pb2_grpc.ExecutionServiceStub(channel)
            lat: list[float] = []
            round_p99: list[float] = []
            cpu0 = _cpu_s(gateway.proc.pid), _cpu_s(os.getpid())
            for n in range(ROUNDS + 3):
                req = pb.PlaceOrderRequest(account_id=ACCOUNT, order=pb.OrderRequest(
                    client_order_id=f"ws{n}", symbol=symbol_ref("NSE", "SBIN").symbol,
                    side=pb.SIDE_BUY, quantity=1, order_type=pb.ORDER_TYPE_LIMIT,
                    price_paise=81000, product=1, allow_duplicate=True))
                t_place = time.perf_counter()
                order_id = (await stub.PlaceOrder(req)).order.order_id
                deadline = time.perf_counter() + 30
                while any(order_id not in c.seen for c in clients):
                    if time.perf_counter() > deadline:
                        raise TimeoutError(f"round {n}: not every client got {order_id}")
                    await asyncio.sleep(0.005)
                got = [(c.seen[order_id] - t_place) * 1000 for c in clients]
                if os.environ.get("BENCH_WS_VERBOSE"):
                    print(f"round {n}: first {min(got):.1f} ms, median "
                          f"{statistics.median(got):.1f}, last {max(got):.1f}", file=sys.stderr)
                if n >= 3:  # warm-up rounds
                    lat.extend(got)
                    round_p99.append(pct(got, 99))
                await asyncio.sleep(0.1)
            cpu = (_cpu_s(gateway.proc.pid) - cpu0[0], _cpu_s(os.getpid()) - cpu0[1])
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await channel.close()
    return {"n": len(lat), "p50": statistics.median(lat), "p99": pct(lat, 99),
            "max": max(lat), "connect_s": connect_s,
            "worst_round_p99": max(round_p99), "gateway_cpu_ms": cpu[0] * 1000 / (ROUNDS + 3),
            "bench_cpu_ms": cpu[1] * 1000 / (ROUNDS + 3)}


async def main() -> None:
    async with fresh_database() as ledger, fresh_database() as gw_db:
        await run_migrations(ledger, "execution", MIGRATIONS)
        r = await bench(ledger, gw_db)
    print("### Gateway WebSocket fan-out\n")
    print(f"{CLIENTS} clients on /ws/orders of one gateway process, {ROUNDS} orders "
          f"({r['n']:,} receipts); PlaceOrder called → the order's event at each client:\n")
    print("| metric | ms | target |\n|---|---|---|")
    print(f"| p50 | {r['p50']:.1f} | |\n| p99 | {r['p99']:.1f} | < 100 |\n"
          f"| max | {r['max']:.1f} | |\n| worst round's p99 | {r['worst_round_p99']:.1f} | |\n")
    print(f"CPU per order: gateway process {r['gateway_cpu_ms']:.0f} ms, this process (execution "
          f"+ {CLIENTS} clients) {r['bench_cpu_ms']:.0f} ms\n")
    print(f"{CLIENTS} sockets connected and snapshotted in {r['connect_s']:.1f} s; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n")
    print("result:", "over target" if r["p99"] >= 100 else "within target")


if __name__ == "__main__":
    asyncio.run(main())
