"""Scenarios 6 and 7: Kite's limits with three execution replicas, and 429 / 5xx injected by
the broker. kitesim runs as its own process with Kite's rate limits on, as Kite is.

* Three replicas (engines with their own pools and Kite clients; the limiter shared only
  through Redis) submit INTENTS order intents through the whole engine path as fast as it lets
  them (60 in `make test`, 1,000 under `make chaos`): kitesim refuses none (0 × 429) and never
  admits more than 10 order requests in a sliding second; every intent is one broker order.
* kitesim answers 5xx (before acting) to a share of requests: each such order is left PENDING
  ("outcome unknown"), resolved by reconciliation (not found by tag → REJECTED), never doubled.
* kitesim's order limit is cut below what Mandi's limiter allows, so it answers 429s: a 429 is
  Kite refusing before acting, so the engine sends the identical request again after a
  jittered backoff — every intent is placed exactly once.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio

from mandi.core.errors import RateLimited, TemporaryError
from mandi.testing.kitesim import DEFAULT_START, KitesimServer, kitesim_process
from mandi.testing.sliding import busiest_window
from services.execution.accounts import RiskLimits
from services.execution.engine import Engine
from services.execution.orders import OrderSpec, tag_for
from services.execution.reconcile import resolve_pending
from tests.integration.execution.kitesim_kit import KiteReplicas, kite_replicas

REPEAT = max(1, int(os.environ.get("MANDI_CHAOS_REPEAT", "1") or 1))
pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module"),
              pytest.mark.timeout(300 * REPEAT)]
INTENTS = 60 if REPEAT == 1 else 1000


@pytest.fixture(scope="module")
def sim() -> Iterator[KitesimServer]:
    with kitesim_process("--start", DEFAULT_START.isoformat()) as server:
        server.login()
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def r(ledger_dsn: str, sim: KitesimServer) -> AsyncIterator[KiteReplicas]:
    async with kite_replicas(ledger_dsn, sim, 3, limits=RiskLimits(
            max_order_value_paise=10**12, max_capital_per_position_paise=10**12)) as reps:
        ltp = round(sim.kite().quote(["NSE:SBIN"])["NSE:SBIN"]["last_price"] * 100)
        for eng in reps.engines:
            eng.ltp_ttl_s = 600.0  # the collar reads one quote, remembered
            account, _ = await eng.account(reps.account_id)
            await eng.instrument(account, "NSE", "SBIN")  # the instrument dump, loaded once
            eng.remember_prices({"NSE:SBIN": ltp})
        yield reps


def _resting(r: KiteReplicas, coid: str) -> OrderSpec:
    ltp = r.engines[0].recent_price("NSE", "SBIN", 10**6) or 0
    return OrderSpec(client_order_id=coid, exchange="NSE", tradingsymbol="SBIN", side="BUY",
                     quantity=1, order_type="LIMIT", product="CNC",
                     price_paise=ltp * 97 // 100 // 5 * 5, allow_duplicate=True)


async def _submit(r: KiteReplicas, coids: list[str], stats: Counter[str]) -> dict[str, Any]:
    """Each coid once through a replica (round robin, 3 tasks per replica); our own throttle's
    refusals (nothing written) are waited out and the intent sent again."""
    rows: dict[str, Any] = {}
    queue = iter(enumerate(coids))
    rng = random.Random(7)

    async def worker(eng: Engine) -> None:
        for _, coid in queue:
            while True:
                try:
                    rows[coid] = (await eng.place(r.account_id, _resting(r, coid)))[0]
                    break
                except RateLimited:
                    stats["throttled"] += 1
                    await asyncio.sleep(rng.uniform(0.05, 0.3))
                except TemporaryError:  # failed before any row was written: send it again
                    stats["failed_before_insert"] += 1
                    await asyncio.sleep(rng.uniform(0.05, 0.3))

    await asyncio.gather(*(worker(r.engines[k % 3]) for k in range(9)))
    return rows


def _tags(sim: KitesimServer) -> Counter[str]:
    return Counter(o["tag"] for o in sim.kite().orders() if o["tag"])


async def test_three_replicas_when_intents_submitted_draw_no_429(r: KiteReplicas) -> None:
    sim = r.sim
    sim.admin("ratelimit", {"enabled": True})  # a clean record
    stats: Counter[str] = Counter()
    started = time.monotonic()
    coids = [f"rep{i}" for i in range(INTENTS)]
    rows = await _submit(r, coids, stats)
    elapsed = time.monotonic() - started
    rec = sim.admin("ratelimit")
    tags = _tags(sim)
    admitted = rec["admitted"]["orders"][sim.api_key]
    assert rec["refused"] == {}
    assert busiest_window(admitted, 1.0) <= 10
    assert [tags[tag_for(c)] for c in coids] == [1] * INTENTS
    assert all(row["status"] == "OPEN" for row in rows.values())
    print(f"\n[fault] replicas: replicas=3 intents={INTENTS} placed={len(rows)} 429s=0 "
          f"busiest_1s={busiest_window(admitted, 1.0)} throttled={stats['throttled']} "
          f"s={elapsed:.1f}")


async def test_broker_5xx_and_429_when_injected_nothing_doubled(r: KiteReplicas) -> None:
    sim = r.sim
    eng, aid = r.engines[0], r.account_id
    # 5xx before acting, on 40 % of requests
    sim.admin("faults", {"error_rate": 0.4})
    stats: Counter[str] = Counter()
    try:
        rows = await _submit(r, [f"e5x{i}" for i in range(20)], stats)
    finally:
        sim.admin("faults", {"enabled": False})
    unknown = [c for c, row in rows.items() if row["status"] == "PENDING"]
    assert unknown, "no request drew a 5xx"
    # the grace for an unknown outcome passes (simulated), reconciliation settles each one
    sim.admin("clock", {"now": (sim.now() + timedelta(seconds=20)).isoformat()})
    await asyncio.sleep(1.2)  # the SimClock resyncs every 0.5 s
    account = await eng.accounts.get(aid)
    await resolve_pending(eng, account)
    after = {row["client_order_id"]: row["status"] for row in await eng.pool.fetch(
        "SELECT client_order_id, status FROM orders WHERE account_id = $1"
        " AND client_order_id LIKE 'e5x%'", aid)}
    tags = _tags(sim)
    assert all(after[c] == "REJECTED" and tags[tag_for(c)] == 0 for c in unknown)
    assert all(tags[tag_for(c)] == 1 for c in after if c not in unknown)

    # 429s: kitesim allows 5 order requests a second, Mandi's limiter 10
    sim.admin("ratelimit", {"enabled": True, "limits": {"orders": [[5, 1.0]]}})
    try:
        rows429 = await _submit(r, [f"e429x{i}" for i in range(20)], stats)
        rec = sim.admin("ratelimit")
    finally:
        sim.admin("ratelimit", {"enabled": True})
    drawn = rec["refused"].get("orders", 0)
    tags = _tags(sim)
    assert drawn > 0, "kitesim refused nothing: the 429 path was not exercised"
    assert [tags[tag_for(c)] for c in rows429] == [1] * 20
    assert all(row["status"] == "OPEN" for row in rows429.values()), \
        Counter(row["status"] for row in rows429.values())
    print(f"\n[fault] broker errors: 5xx_unknown={len(unknown)} resolved_rejected="
          f"{len(unknown)} 429s_drawn={drawn} placed_after_429=20/20 dups=0")
