"""KiteBroker against kitesim with Kite's rate limits ON (a separate process, as Kite is):
order bursts from two execution replicas and the emergency stop draw no 429, and kitesim's own
record of admitted order requests never holds more than 10 in a sliding second (H2, M9)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from mandi.core.errors import RateLimited
from mandi.kite.client import KiteClient
from mandi.testing.kitesim import DEFAULT_START, KitesimServer, kitesim_process
from mandi.testing.redis import redis_namespace
from mandi.testing.sliding import busiest_window
from services.execution import emergency, reconcile
from services.execution.brokers.base import TERMINAL_BROKER_STATUSES, BrokerOrderRequest
from services.execution.brokers.kite import KiteBroker
from services.execution.brokers.kite_limits import LIMITS, KiteRateLimiter
from services.execution.engine import Engine
from services.execution.orders import OrderRepo, OrderSpec, tag_for
from services.execution.sync import sync_account
from tests.integration.execution.kitesim_kit import KiteReplicas, kite_replicas

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SYMBOLS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "SBIN", "ICICIBANK", "BHARTIARTL", "ITC",
           "LT", "KOTAKBANK", "HINDUNILVR", "AXISBANK", "MARUTI", "SUNPHARMA", "TITAN"]


@pytest.fixture
def sim() -> Iterator[KitesimServer]:
    """A kitesim process of its own per test (limits on, as the CLI starts it): the emergency
    stop acts on everything the broker holds, and the sim has a single user."""
    with kitesim_process("--start", DEFAULT_START.isoformat()) as server:
        server.login()
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def r(ledger_dsn: str, sim: KitesimServer) -> AsyncIterator[KiteReplicas]:
    """Two execution engines (replicas) on one database and one Redis, each with its own Kite
    client and limiter objects; the limits are shared through Redis only."""
    async with kite_replicas(ledger_dsn, sim, 2) as reps:
        yield reps


def _record(sim: KitesimServer) -> dict[str, Any]:
    return sim.admin("ratelimit")


def _tightest(instants: list[float], k: int) -> float:
    ts = sorted(instants)
    return min(ts[i + k - 1] - ts[i] for i in range(len(ts) - k + 1))


async def _ltps(r: KiteReplicas, symbols: list[str]) -> dict[str, int]:
    quotes = await r.broker(0).quotes([f"NSE:{s}" for s in symbols])
    return {s: quotes[f"NSE:{s}"].last_paise for s in symbols}


async def test_sixty_orders_from_two_replicas_at_full_speed_draw_no_429(r: KiteReplicas) -> None:
    """60 resting LIMIT orders through KiteBroker, 3 tasks in each of 2 replicas, as fast as
    the shared limiter allows: kitesim refuses none, and its record of admitted order requests
    has at most 10 in any sliding second."""
    sim = r.sim
    ltp = (await _ltps(r, ["SBIN"]))["SBIN"]
    price = ltp * 95 // 100 // 5 * 5  # 5% below: every order rests
    sim.admin("ratelimit", {"enabled": True})  # a clean record from here
    ids: list[str] = []
    n = iter(range(60))

    async def worker(replica: int) -> None:
        for i in n:
            ids.append(await r.broker(replica).place_order(BrokerOrderRequest(
                tag=f"burst{i}", exchange="NSE", tradingsymbol="SBIN", side="BUY",
                quantity=1 + i, order_type="LIMIT", product="CNC", price_paise=price)))

    await asyncio.gather(*(worker(k % 2) for k in range(6)))
    rec = _record(sim)
    assert len(set(ids)) == 60
    assert rec["refused"] == {}  # zero 429s, of any class
    admitted = rec["admitted"]["orders"][sim.api_key]
    assert len(admitted) == 60
    assert busiest_window(admitted, 1.0) <= 10
    # figure for the report: the shortest span holding 11 admitted orders (> 1.0 s always)
    print(f"11-order span at kitesim: {_tightest(admitted, 11):.3f}s over "
          f"{max(admitted) - min(admitted):.2f}s for 60 orders")


async def test_orders_under_a_shortened_minute_window_draw_no_429(r: KiteReplicas) -> None:
    """kitesim's per-minute order window shortened to 15 per 3 s (the same shape as 400/min,
    short enough to test): 25 orders from two replicas whose limiters know that window too
    draw no 429, and kitesim's record holds ≤ 15 in any 3 s and ≤ 10 in any second."""
    sim = r.sim
    ltp = (await _ltps(r, ["SBIN"]))["SBIN"]
    price = ltp * 95 // 100 // 5 * 5
    shortened = {"order": ((10, 1.0), (15, 3.0))}
    sim.admin("ratelimit", {"enabled": True, "limits": {"orders": [[10, 1.0], [15, 3.0]]}})
    async with redis_namespace() as ns:
        brokers = [KiteBroker(KiteClient(sim.api_key, access_token=sim.access_token,
                                         root=sim.url),
                              limiter=KiteRateLimiter(ns.client, sim.api_key, limits=shortened,
                                                      prefix=ns.prefix + "kite"))
                   for _ in range(2)]
        n = iter(range(25))

        async def worker(b: KiteBroker) -> None:
            for i in n:
                await b.place_order(BrokerOrderRequest(
                    tag=f"min{i}", exchange="NSE", tradingsymbol="SBIN", side="BUY",
                    quantity=1 + i, order_type="LIMIT", product="CNC", price_paise=price))

        try:
            await asyncio.gather(*(worker(brokers[k % 2]) for k in range(4)))
        finally:
            for b in brokers:
                await b.close()
    rec = _record(sim)
    sim.admin("ratelimit", {"enabled": True})  # Kite's figures again
    assert rec["limits"]["orders"] == [[10, 1.0], [15, 3.0]]
    assert rec["refused"] == {}
    admitted = rec["admitted"]["orders"][sim.api_key]
    assert len(admitted) == 25
    assert busiest_window(admitted, 3.0) == 15 and busiest_window(admitted, 1.0) <= 10


async def test_a_full_order_window_refuses_before_writing_and_never_leaves_an_order_pending(
        r: KiteReplicas, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kite's 400-a-minute window full (here 3 a minute): the next intent is refused before
    anything is stored (RESOURCE_EXHAUSTED naming kite_order_rate, the client retries later),
    not written and left PENDING as "outcome unknown" when the placement's wait runs out — that
    order was never sent, and reconciliation would reject it, finding nothing by its tag. An
    order that does get past the check but whose slot is still too far is REJECTED "not sent"."""
    eng, aid = r.engines[0], r.account_id
    broker = r.broker(0)
    ltp = (await _ltps(r, ["SBIN"]))["SBIN"]
    eng.ltp_ttl_s = 300.0
    eng.remember_prices({"NSE:SBIN": ltp})
    kept = broker.limiter
    async with redis_namespace() as ns:
        broker.limiter = KiteRateLimiter(ns.client, r.sim.api_key, timeout_s=0.5,
                                         prefix=ns.prefix + "kite",
                                         limits={**LIMITS, "order": ((10, 1.0), (3, 60.0))})

        def rest(coid: str, qty: int) -> OrderSpec:
            return OrderSpec(client_order_id=coid, exchange="NSE", tradingsymbol="SBIN",
                             side="BUY", quantity=qty, order_type="LIMIT", product="CNC",
                             price_paise=ltp * 97 // 100 // 5 * 5)

        try:
            for i in range(3):
                row = await _place_retrying(eng, aid, rest(f"win{i}", 1 + i))
                assert row["status"] == "OPEN"
            with pytest.raises(RateLimited, match="full; nothing was stored") as err:
                await eng.place(aid, rest("win3", 4))
            assert err.value.field == "kite_order_rate"
            assert await eng.pool.fetchval(
                "SELECT count(*) FROM orders WHERE account_id = $1 AND client_order_id = "
                "'win3'", aid) == 0
            refused = await eng.pool.fetchval(
                "SELECT count(*) FROM audit_logs WHERE account_id = $1 AND action ="
                " 'order_rejected' AND detail->>'rule' = 'kite_order_rate'", aid)
            assert refused == 1
            # past the check (as racing replicas can be), the slot 60 s away, a 0.5 s wait
            monkeypatch.setattr("services.execution.engine.ORDER_ROOM_S", 120.0)
            row, _ = await eng.place(aid, rest("win4", 5))
            assert row["status"] == "REJECTED" and row["status_message"].startswith("not sent:")
        finally:
            broker.limiter = kept
    tags = {o["tag"] for o in r.sim.kite().orders()}
    assert tag_for("win4") not in tags and tag_for("win3") not in tags
    assert {tag_for(f"win{i}") for i in range(3)} <= tags


async def test_a_fill_whose_ack_a_killed_replica_never_stored_is_not_taken_for_drift(
        r: KiteReplicas) -> None:
    """A replica writes an order (PENDING), Kite fills it, and the replica dies before storing
    the ack: the ledger lacks a fill the broker has. Another replica's drift check adopts that
    order by its tag (the sync finds ours by tag) and does not call the gap drift."""
    eng, aid = r.engines[0], r.account_id
    account, broker = await eng.account(aid)
    ltp = (await _ltps(r, ["TITAN"]))["TITAN"]
    spec = OrderSpec(client_order_id="acklost", exchange="NSE", tradingsymbol="TITAN",
                     side="BUY", quantity=3, order_type="LIMIT", product="MIS",
                     price_paise=(ltp + 200) // 5 * 5)
    async with eng.pool.acquire() as conn:
        row = await OrderRepo.insert_row(conn, aid, spec, now=eng.clock.now())
    await broker.place_order(BrokerOrderRequest(
        tag=row["tag"], exchange="NSE", tradingsymbol="TITAN", side="BUY", quantity=3,
        order_type="LIMIT", product="MIS", price_paise=spec.price_paise))
    key = "NSE:TITAN:MIS"

    async def gap() -> list[Any]:
        return [d for d in await reconcile._positions(eng, aid, broker) if d.key == key]

    found = await _until(gap, lambda d: bool(d) and d[0].gap == -3)  # the fill at Kite
    assert await reconcile._confirmed(eng, account, broker, found) == []
    adopted = await OrderRepo.get(eng.pool, aid, row["order_id"])
    assert (adopted["status"], adopted["filled_quantity"]) == ("COMPLETE", 3)
    assert adopted["broker_order_id"]
    assert await gap() == []


async def test_fills_landing_between_the_order_and_position_reads_are_not_drift(
        r: KiteReplicas) -> None:
    """Scenario 19's false halt (2 of 9 `make chaos` runs): while another replica keeps filling
    orders, a fill can land between the order listing a sync applies and the position listing
    it is compared with, reading after reading — the same gap (the ledger one share short)
    every time, which three equal readings called drift. Here replica 1 fills a MARKET buy of
    one share just before each of replica 0's position listings: replica 0's drift check must
    not halt, must say why it could not judge, and its syncs book every one of those fills."""
    eng0, eng1, aid = r.engines[0], r.engines[1], r.account_id
    account, broker = await eng0.account(aid)
    eng1.ltp_ttl_s = 300.0
    eng1.remember_prices({"NSE:ITC": (await _ltps(r, ["ITC"]))["ITC"]})
    key, flows = "NSE:ITC:MIS", []
    listed = broker.positions

    async def positions_one_fill_later() -> Any:
        cid = f"flow{len(flows)}"
        flows.append(cid)
        await _place_retrying(eng1, aid, OrderSpec(
            client_order_id=cid, exchange="NSE", tradingsymbol="ITC", side="BUY", quantity=1,
            order_type="MARKET", product="MIS", allow_duplicate=True))
        await _until(lambda: broker.orders(), lambda orders: any(
            o.tag == tag_for(cid) and o.status == "COMPLETE" for o in orders))
        return await listed()

    broker.positions = positions_one_fill_later  # type: ignore[method-assign]
    try:
        found = [d for d in await reconcile._positions(eng0, aid, broker) if d.key == key]
        assert [d.gap for d in found] == [-1]  # the trigger: one fill the sync has not seen
        assert await reconcile._confirmed(eng0, account, broker, found) == []
    finally:
        del broker.positions
    notes = await eng0.pool.fetch("SELECT detail FROM audit_logs WHERE account_id = $1"
                                  " AND action = 'drift_unjudged'", aid)
    assert len(notes) == 1 and key in notes[0]["detail"]
    await sync_account(eng0, account)
    assert await eng0.pool.fetchval(
        "SELECT quantity FROM positions WHERE account_id = $1 AND tradingsymbol = 'ITC'"
        " AND status = 'open'", aid) == len(flows)
    assert not await eng0.pool.fetchval(
        "SELECT emergency_stop FROM accounts WHERE account_id = $1", aid)


async def _place_retrying(eng: Engine, aid: str, spec: OrderSpec) -> Any:
    """The set-up places orders through the risk path; the SEBI governor refuses a 10th in a
    second, so wait and retry (the throttle is tested in test_risk)."""
    for _ in range(100):
        try:
            return (await eng.place(aid, spec))[0]
        except RateLimited:
            await asyncio.sleep(0.2)
    raise AssertionError("the throttle never admitted the set-up order")


async def _book(r: KiteReplicas, positions: int, resting: int) -> None:
    """`positions` open CNC positions (MARKET buys of 1 share) and `resting` resting LIMITs."""
    eng, aid = r.engines[0], r.account_id
    ltps = await _ltps(r, SYMBOLS)  # one quote call; the risk checks reuse these prices
    eng.ltp_ttl_s = 300.0
    eng.remember_prices({f"NSE:{s}": p for s, p in ltps.items()})
    for s in SYMBOLS[:positions]:
        await _place_retrying(eng, aid, OrderSpec(
            client_order_id=f"pos-{s}", exchange="NSE", tradingsymbol=s, side="BUY",
            quantity=1, order_type="MARKET", product="CNC"))
    for s in SYMBOLS[:resting]:
        await _place_retrying(eng, aid, OrderSpec(
            client_order_id=f"rest-{s}", exchange="NSE", tradingsymbol=s, side="BUY",
            quantity=2, order_type="LIMIT", product="MIS",
            price_paise=ltps[s] * 97 // 100 // 5 * 5))
    await _until(lambda: _open_count(r), lambda n: n == positions)


async def _open_count(r: KiteReplicas) -> int:
    return sum(1 for p in await r.broker(0).positions() if p.quantity != 0)


async def _working_count(r: KiteReplicas) -> int:
    return sum(1 for o in await r.broker(0).orders() if o.status not in TERMINAL_BROKER_STATUSES)


async def _until(probe: Any, ok: Any, timeout_s: float = 60.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        got = await probe()
        if ok(got):
            return got
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached in {timeout_s}s: last {got!r}")
        await asyncio.sleep(0.5)


async def test_emergency_stop_of_fifteen_positions_under_limits_flat_and_no_429(
        r: KiteReplicas) -> None:
    await _book(r, positions=15, resting=10)
    assert await _working_count(r) == 10
    r.sim.admin("ratelimit", {"enabled": True})  # a clean record from here
    started = asyncio.get_running_loop().time()
    result = await emergency.emergency_stop(r.engines[0], r.account_id, reason="drill",
                                            actor="ops")
    took = asyncio.get_running_loop().time() - started
    rec = _record(r.sim)
    print(f"emergency stop of 15 positions + 10 orders under limits: {took:.1f}s")
    assert result.failures == []
    assert (result.orders_cancelled, result.positions_squared_off) == (10, 15)
    assert rec["refused"] == {}  # zero 429s
    admitted = rec["admitted"]["orders"][r.sim.api_key]
    assert len(admitted) == 25  # 10 cancels + 15 square-offs
    assert busiest_window(admitted, 1.0) <= 9  # the SEBI governor: below 10 per second
    assert await _open_count(r) == 0 and await _working_count(r) == 0
    assert (await r.engines[0].accounts.get(r.account_id)).emergency_stop
    # the exits are MARKET sells carrying market protection (Kite rejects protection 0); the
    # raw client below is outside our limiter, so let the last second's requests age out first
    await asyncio.sleep(1.5)
    exits = [o for o in r.sim.kite().orders()
             if o["transaction_type"] == "SELL" and o["product"] == "CNC"]
    assert len(exits) == 15
    assert all(o["order_type"] == "MARKET" and o["market_protection"] == 2 for o in exits)


async def test_emergency_stop_with_broker_errors_reports_every_failure_and_stays_blocked(
        r: KiteReplicas) -> None:
    await _book(r, positions=12, resting=4)
    r.sim.admin("faults", {"error_rate": 0.35})
    try:
        result = await emergency.emergency_stop(r.engines[0], r.account_id, reason="drill",
                                                actor="ops")
    finally:
        r.sim.admin("faults", {"enabled": False})
    pool, aid = r.engines[0].pool, r.account_id
    assert (await r.engines[0].accounts.get(aid)).emergency_stop
    still = [p for p in await r.broker(0).positions() if p.quantity != 0]
    for p in still:  # whatever is still open is named in the response
        assert any(f"squareoff NSE:{p.tradingsymbol} " in f for f in result.failures), \
            (p.tradingsymbol, result.failures)
    working = [o for o in await r.broker(0).orders()
               if o.status not in TERMINAL_BROKER_STATUSES]
    for o in working:  # and so is every order still working
        assert any(f"cancel order {o.broker_order_id} " in f for f in result.failures), \
            (o.broker_order_id, result.failures)
    if not result.failures:
        assert still == [] and working == []
    failed = await pool.fetch("SELECT action, detail FROM audit_logs WHERE account_id = $1"
                              " AND action LIKE '%\\_failed' ORDER BY id", aid)
    assert len(failed) == len(result.failures)  # each failure audited once
    done = await pool.fetchrow("SELECT detail FROM audit_logs WHERE account_id = $1"
                               " AND action = 'emergency_stop_done'", aid)
    assert done is not None
    print(f"with 35% broker errors: {len(result.failures)} failures, "
          f"{result.positions_squared_off}/12 squared off, {len(still)} left open: "
          f"{result.failures}")


async def test_emergency_stop_when_broker_refuses_everything_reports_and_stays_blocked(
        r: KiteReplicas) -> None:
    await _book(r, positions=2, resting=0)
    r.sim.admin("faults", {"error_rate": 1.0})
    try:
        result = await emergency.emergency_stop(r.engines[0], r.account_id, reason="drill",
                                                actor="ops")
    finally:
        r.sim.admin("faults", {"enabled": False})
    # the order book could not even be listed: that, and what followed, are failures
    assert result.failures and result.failures[0].startswith("list orders: ")
    assert result.positions_squared_off == 0 and result.blocked
    assert await _open_count(r) == 2  # nothing was squared off, and the call said so
    assert (await r.engines[0].accounts.get(r.account_id)).emergency_stop
    failed = await r.engines[0].pool.fetchval(
        "SELECT count(*) FROM audit_logs WHERE account_id = $1 AND action LIKE '%\\_failed'",
        r.account_id)
    assert failed == len(result.failures)
