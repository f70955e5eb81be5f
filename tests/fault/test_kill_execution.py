"""Scenario 1: SIGKILL of the execution process at a random point of order submission, KILLS
times (20 in `make test`, 200 with MANDI_CHAOS_REPEAT=10 in `make chaos`).

A client streams orders (LIMIT buys above the last price, ≤ 8/s, each a fresh client_order_id)
to the running process; a random order of each round is followed, after 0–60 ms, by SIGKILL, so
the kill lands anywhere in the path: before the PENDING insert, between it and the broker call,
inside the call, between the broker's ack and storing it. The next process (started while the
previous one still worked, as a replacement would be) takes the client's resends — the
identical request, as an idempotent client does. After the last kill one more process starts;
every order must then be terminal within 60 s and the broker (kitesim) must hold exactly one
order per client_order_id that reached it, and the ledger's position must equal the broker's.

In `make test` the simulator's clock is moved 40 s on before the last start (the PENDING grace
passes in simulated time, so its start-up reconciliation settles every crash at once); `make
chaos` waits for it in real time instead."""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from mandi.platform.db import create_pool
from mandi.testing.exec_process import ExecutionProcess
from mandi.testing.kitesim import KitesimServer
from mandi.testing.redis import RedisNamespace
from mandi.v1 import execution_pb2 as pb
from services.execution.orders import tag_for
from tests.integration.execution.kitesim_kit import order_request

ACCOUNT = "SIM001"
REPEAT = max(1, int(os.environ.get("MANDI_CHAOS_REPEAT", "1") or 1))
pytestmark = [pytest.mark.e2e, pytest.mark.heavy, pytest.mark.asyncio(loop_scope="module"),
              pytest.mark.timeout(300 * REPEAT)]
KILLS = 20 * REPEAT
LOOKAHEAD = 2  # processes starting while one takes orders
TERMINAL = ("COMPLETE", "REJECTED", "CANCELLED")


class Client:
    """Fresh orders and resends of the unanswered ones, paced under Kite's 10 orders/s."""

    def __init__(self, sim: KitesimServer) -> None:
        self.sim = sim
        self.n = 0
        self.answered: dict[str, pb.Order] = {}
        self.unanswered: dict[str, pb.PlaceOrderRequest] = {}
        self.sent = 0
        self.busy: Counter[str] = Counter()  # RESOURCE_EXHAUSTED by limit: no row, resent

    def new(self) -> pb.PlaceOrderRequest:
        self.n += 1  # one share at a time: the same order again, so allow_duplicate
        req = order_request(self.sim, f"k{self.n}", 1, allow_duplicate=True)
        # 2 % above the price when built, not ₹2: a resend is the identical request, and in
        # `make chaos` (real time, minutes) the price can pass ₹2 and leave it resting
        req.order.price_paise = req.order.price_paise * 102 // 100 // 5 * 5
        return req

    async def send(self, proc: ExecutionProcess, req: pb.PlaceOrderRequest) -> None:
        coid = req.order.client_order_id
        self.unanswered[coid] = req
        self.sent += 1
        try:
            r = await proc.stub.PlaceOrder(req, timeout=10)
        except grpc.aio.AioRpcError as exc:
            # Without marketdata the price collar reads Kite's REST quote, 1 per 1.25 s per
            # API key across every process: a refusal there writes nothing and is resent
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                self.busy[(exc.details() or "").split(":")[0][:40]] += 1
                return
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                                  grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            return
        self.unanswered.pop(coid, None)
        self.answered[coid] = r.order

    async def round(self, proc: ExecutionProcess, rng: random.Random, kill: bool) -> None:
        """Resends first, then fresh orders; SIGKILL 0–60 ms after the `victim`-th send."""
        queue = list(self.unanswered.values())
        victim = rng.randrange(len(queue), len(queue) + 4) if kill else -1
        tasks: list[asyncio.Task[None]] = []
        i = 0
        while proc.proc.poll() is None and (kill or queue):
            req = queue.pop(0) if queue else self.new()
            tasks.append(asyncio.create_task(self.send(proc, req)))
            if i == victim:
                await asyncio.sleep(rng.uniform(0, 0.06))
                proc.kill()
                break
            i += 1
            await asyncio.sleep(0.125)
        await asyncio.gather(*tasks)


async def test_sigkill_at_random_submit_points_no_duplicate_none_stuck(
        dsn: str, ns: RedisNamespace, sim: KitesimServer, tmp_path: Path) -> None:
    rng = random.Random(17)
    client = Client(sim)
    started = time.monotonic()
    procs: list[ExecutionProcess] = []

    def spawn() -> ExecutionProcess:
        p = ExecutionProcess(dsn, ns, sim, tmp_path / f"exec-{len(procs)}.log")
        procs.append(p)
        return p

    # replacements warm up (imports, migrations, start-up reconciliation) while the running
    # one works and dies, as a supervisor's next replica would
    warm = [spawn() for _ in range(min(LOOKAHEAD, KILLS))]
    try:
        for k in range(KILLS):
            cur = warm.pop(0)
            await cur.ready()
            if k + len(warm) + 1 < KILLS:
                warm.append(spawn())
            await client.round(cur, rng, kill=True)
            await asyncio.to_thread(cur.proc.wait, 10)
            assert cur.proc.returncode == -9
            await cur.stop()
        if REPEAT == 1:  # the PENDING grace passes in simulated time
            sim.admin("clock", {"now": (sim.now() + timedelta(seconds=40)).isoformat()})
        final = spawn()
        await final.ready()
        restarted = time.monotonic()
        for _ in range(10):  # the last resends, answered now
            await client.round(final, rng, kill=False)
            if not client.unanswered:
                break
            await asyncio.sleep(1.5)
        assert not client.unanswered
        pool = await create_pool(dsn, schema="execution", min_size=1, max_size=2)
        try:
            while True:
                rows = await pool.fetch("SELECT client_order_id, status, broker_order_id,"
                                        " filled_quantity, status_message FROM orders"
                                        " WHERE account_id = $1", ACCOUNT)
                stuck = [r for r in rows if r["status"] not in TERMINAL]
                settle_s = time.monotonic() - restarted
                if not stuck or settle_s > 60:
                    break
                await asyncio.sleep(0.5)
            halted = await pool.fetchval("SELECT emergency_stop FROM accounts"
                                         " WHERE account_id = $1", ACCOUNT)
            ledger_qty = await pool.fetchval(
                "SELECT coalesce(sum(quantity), 0) FROM positions WHERE account_id = $1"
                " AND tradingsymbol = 'SBIN' AND status = 'open'", ACCOUNT)
        finally:
            await pool.close()
        await final.stop()
    finally:
        for p in procs:
            p.kill()
            await p.stop()
    by_tag = Counter(o["tag"] for o in sim.kite().orders() if o["tag"])
    dups = {t: n for t, n in by_tag.items() if n > 1}
    tags = {tag_for(c) for c in client.answered}
    statuses = Counter(r["status"] for r in rows)
    # why each REJECTED one was (its message up to the first colon or digit: "reconciled",
    # "not sent", "broker rejected", ...)
    rejected = Counter(re.split(r"[:0-9]", r["status_message"] or "?", maxsplit=1)[0].strip()
                       for r in rows if r["status"] == "REJECTED")
    broker_qty = sum(p["quantity"] for p in sim.kite().positions()["net"]
                     if p["tradingsymbol"] == "SBIN")
    filled = sum(r["filled_quantity"] for r in rows)
    print(f"\n[fault] sigkill: kills={KILLS} orders={len(rows)} sends={client.sent} "
          f"dups={len(dups)} stuck={len(stuck)} settle_s={settle_s:.1f} busy={dict(client.busy)} "
          f"statuses={dict(statuses)} rejected={dict(rejected)} "
          f"broker_orders={sum(by_tag.values())} "
          f"wall_s={time.monotonic() - started:.0f}")
    assert dups == {}
    assert stuck == [], stuck
    assert halted is False  # fills in flight at a replica's start are not drift
    assert len(rows) == client.n  # every intent has exactly one row, answered to the client
    assert set(by_tag) <= tags and len(by_tag) == statuses["COMPLETE"]
    assert filled == statuses["COMPLETE"] == broker_qty == ledger_qty
