"""Scenario 19: the outbox relay killed mid-publish. Every committed order event is delivered at
least once; after dedupe by event_id, exactly once.

Execution runs as a real process (real PostgreSQL, Redis, kitesim). A subscriber follows
StreamOrderEvents while orders are placed; each process dies abruptly — every other one at the
"after_commit_before_publish" fault point (the OPEN event's row is committed, its Redis doorbell
never rung), the others by SIGKILL at a random moment. The subscriber reconnects to the next
process with the highest event_id it saw (`since_event_id`). After the last kill one more
process runs until the account is quiet: every order_events row of the account must have reached
the subscriber, and the repeats it dropped by event_id are counted. KILLS = 2 × MANDI_CHAOS_REPEAT.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import Counter
from pathlib import Path

import grpc
import pytest

from mandi.platform.db import create_pool
from mandi.testing.exec_process import ExecutionProcess
from mandi.testing.kitesim import KitesimServer
from mandi.testing.redis import RedisNamespace
from mandi.v1 import execution_pb2 as pb
from tests.integration.execution.kitesim_kit import order_request

ACCOUNT = "SIM001"
REPEAT = max(1, int(os.environ.get("MANDI_CHAOS_REPEAT", "1") or 1))
KILLS = 2 * REPEAT
FAULT = "after_commit_before_publish"
LOOKAHEAD = 3
pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"),
              pytest.mark.timeout(120 * REPEAT)]


class Subscriber:
    """A StreamOrderEvents client that dedupes by event_id and resumes after the highest."""

    def __init__(self) -> None:
        self.cursor = 0  # 0 until the first stream names where it started
        self.received: Counter[int] = Counter()
        self.streams = 0

    async def follow(self, proc: ExecutionProcess, subscribed: asyncio.Event) -> None:
        """Read one process's stream until it dies."""
        self.streams += 1
        call = proc.stub.StreamOrderEvents(pb.StreamOrderEventsRequest(
            account_id=ACCOUNT, since_event_id=self.cursor))
        try:
            meta = dict(await call.initial_metadata())
            if not self.cursor:
                self.cursor = int(meta["mandi-event-cursor"])
            subscribed.set()
            async for ev in call:
                assert ev.event_id > 0 and ev.account_id == ACCOUNT
                self.received[ev.event_id] += 1
                self.cursor = max(self.cursor, ev.event_id)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                                  grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
                raise
        finally:
            subscribed.set()
            call.cancel()


def order(sim: KitesimServer, n: int) -> pb.PlaceOrderRequest:
    return order_request(sim, f"ob{n}", 1, account_id=ACCOUNT, allow_duplicate=True)


async def halt_report(dsn: str, sim: KitesimServer) -> str:
    """Why the account was halted: the drift audit, our SBIN orders and fills, the broker's."""
    pool = await create_pool(dsn, schema="execution", min_size=1, max_size=2)
    try:
        audits = await pool.fetch(
            "SELECT ts, actor, action, detail FROM audit_logs WHERE account_id = $1"
            " AND action IN ('drift_halt', 'reconcile') ORDER BY id", ACCOUNT)
        orders = await pool.fetch(
            "SELECT order_id, tag, broker_order_id, status, filled_quantity, created_at,"
            " updated_at FROM orders WHERE account_id = $1 ORDER BY created_at", ACCOUNT)
        fills = await pool.fetch("SELECT order_id, broker_trade_id, quantity FROM fills"
                                 " WHERE account_id = $1", ACCOUNT)
    finally:
        await pool.close()
    booked = Counter(r["order_id"] for r in fills)
    broker = await asyncio.to_thread(lambda: sim.kite().orders())
    at_broker = Counter(o.get("tag") for o in broker)
    lines = [f"{a['ts']} {a['actor']} {a['action']} {a['detail']}" for a in audits
             if a["action"] == "drift_halt" or "position" in str(a["detail"])]
    lines += [f"ours {r['order_id']} tag={r['tag']} bid={r['broker_order_id']} {r['status']}"
              f" filled={r['filled_quantity']} booked={booked[r['order_id']]}"
              f" at_broker={at_broker[r['tag']]} {r['created_at']:%H:%M:%S.%f}"
              for r in orders if booked[r["order_id"]] != r["filled_quantity"]
              or at_broker[r["tag"]] != (1 if r["broker_order_id"] else 0)]
    ours = {r["tag"] for r in orders}
    lines += [f"broker only {o['order_id']} tag={o.get('tag')} {o['status']}"
              f" filled={o['filled_quantity']} {o.get('order_timestamp')}"
              for o in broker if o.get("tag") not in ours]
    return "\n".join(lines)


async def place(proc: ExecutionProcess, req: pb.PlaceOrderRequest, dsn: str = "",
                sim: KitesimServer | None = None) -> bool:
    try:
        await proc.stub.PlaceOrder(req, timeout=10)
        return True
    except grpc.aio.AioRpcError as exc:  # the process died under it, or the quote limiter
        if exc.code() == grpc.StatusCode.FAILED_PRECONDITION and sim is not None:
            raise AssertionError(f"{exc.details()}\n{await halt_report(dsn, sim)}") from exc
        if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                              grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNKNOWN,
                              grpc.StatusCode.DEADLINE_EXCEEDED):
            raise
        return False


async def test_relay_killed_mid_publish_delivers_every_committed_event_once(
        dsn: str, ns: RedisNamespace, sim: KitesimServer, tmp_path: Path) -> None:
    rng = random.Random(19)
    started = time.monotonic()
    procs: list[ExecutionProcess] = []
    sub = Subscriber()
    n = 0

    def spawn(fault: str = "") -> ExecutionProcess:
        p = ExecutionProcess(dsn, ns, sim, tmp_path / f"exec-{len(procs)}.log", fault=fault)
        procs.append(p)
        return p

    # replicas warm up while the current one works (as a supervisor's would), LOOKAHEAD ahead
    plan = [FAULT if k % 2 == 0 else "" for k in range(KILLS)] + [None]
    warm = [spawn(f or "") for f in plan[:LOOKAHEAD]]
    at_fault = sigkills = 0
    timings: list[float] = []
    try:
        for k, fault in enumerate(plan):
            cur = warm.pop(0)
            if k + LOOKAHEAD < len(plan):
                warm.append(spawn(plan[k + LOOKAHEAD] or ""))
            t0 = time.monotonic()
            await cur.ready()
            timings.append(time.monotonic() - t0)
            subscribed = asyncio.Event()
            follower = asyncio.create_task(sub.follow(cur, subscribed))
            await asyncio.wait_for(subscribed.wait(), 10)
            if fault is None:  # the last process: orders until the account is quiet
                for _ in range(3):
                    n += 1
                    await place(cur, order(sim, n), dsn, sim)
                break
            kill_at = time.monotonic() + rng.uniform(0.05, 0.6)
            while cur.proc.poll() is None:
                n += 1
                req = order(sim, n)
                if fault:  # dies inside this call, between the commit and the doorbell
                    await place(cur, req, dsn, sim)
                    await asyncio.sleep(0.05)
                else:
                    sent = asyncio.create_task(place(cur, req, dsn, sim))
                    await asyncio.sleep(max(0.0, min(0.15, kill_at - time.monotonic())))
                    if time.monotonic() >= kill_at:
                        cur.kill()
                    await sent
            await asyncio.to_thread(cur.proc.wait, 10)
            if fault:
                assert cur.proc.returncode == 137, cur.log.read_text()[-2000:]
                at_fault += 1
            else:
                assert cur.proc.returncode == -9
                sigkills += 1
            await asyncio.wait_for(follower, 10)
            await cur.stop()

        # the last process: every committed row must reach the subscriber
        pool = await create_pool(dsn, schema="execution", min_size=1, max_size=2)
        try:
            deadline = time.monotonic() + 10
            while True:
                committed = {r["id"] for r in await pool.fetch(
                    "SELECT id FROM order_events WHERE account_id = $1", ACCOUNT)}
                lost = committed - set(sub.received)
                if not lost or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            acked = await pool.fetchval(
                "SELECT count(*) FROM order_events WHERE account_id = $1 AND status = 'OPEN'",
                ACCOUNT)
            unjudged = await pool.fetchval(  # a replica's start-up drift check met live fills
                "SELECT count(*) FROM audit_logs WHERE account_id = $1"
                " AND action = 'drift_unjudged'", ACCOUNT)
        finally:
            await pool.close()
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
    finally:
        for p in procs:
            p.kill()
            await p.stop()
    delivered = sum(sub.received.values())
    dups = delivered - len(sub.received)
    extra = set(sub.received) - committed
    print(f"\n[fault] outbox: kills={at_fault + sigkills} (at {FAULT}={at_fault}, "
          f"sigkill={sigkills}) events_committed={len(committed)} delivered={delivered} "
          f"unique={len(sub.received)} duplicates_dropped={dups} lost={len(lost)} "
          f"streams={sub.streams} orders_acked={acked} drift_unjudged={unjudged} "
          f"wall_s={time.monotonic() - started:.1f} "
          f"ready_wait_s={sum(timings):.1f}")
    assert at_fault >= 1 and sigkills >= 1  # KILLS >= 2
    assert lost == set(), sorted(lost)
    assert extra == set()  # nothing delivered that was never committed
