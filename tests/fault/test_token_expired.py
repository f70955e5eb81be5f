"""Scenario 5: Kite's 403 TokenException in the middle of a session (kitesim expires every
access token). The next order gets one rejection from Kite; the account's session is marked
expired and every later order is refused fast (≤ 1 s) without calling Kite again — no retry
storm, at most one order request reaches the broker — and before it is written or takes a rate
slot, until the session is renewed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from mandi.core.errors import AuthError
from mandi.testing.kitesim import DEFAULT_START, KitesimServer, start_kitesim
from tests.integration.execution.kit import spec
from tests.integration.execution.kitesim_kit import kite_rig

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
AFTER = 10  # orders sent after the tokens expired


@pytest.fixture(scope="module")
def sim() -> Iterator[KitesimServer]:
    server = start_kitesim()  # Kite's limits on: its record counts the order requests
    server.login()
    try:
        yield server
    finally:
        server.stop()


async def test_token_expired_mid_session_orders_refused_fast_one_broker_call(
        ledger_dsn: str, sim: KitesimServer) -> None:
    async with kite_rig(ledger_dsn, sim, DEFAULT_START) as rig:
        eng, aid = rig.engine, rig.account_id
        ltp = round(sim.kite().quote(["NSE:SBIN"])["NSE:SBIN"]["last_price"] * 100)
        eng.ltp_ttl_s = 600.0  # the collar reads this price: no quote call per order
        eng.remember_prices({"NSE:SBIN": ltp})
        price = ltp * 97 // 100 // 5 * 5

        def order(i: int):  # a fresh resting order each time
            return spec(f"tok{i}", quantity=1, product="CNC", price_paise=price,
                        allow_duplicate=True)

        row, _ = await eng.place(aid, order(0))
        assert row["status"] == "OPEN"
        sim.admin("ratelimit", {"enabled": True})  # a clean record of order requests
        sim.admin("ws/fault", {"expire_tokens": True})
        slowest = 0.0
        refused = 0
        for i in range(1, AFTER + 1):
            t = time.monotonic()
            with pytest.raises(AuthError):
                await eng.place(aid, order(i))
            slowest = max(slowest, time.monotonic() - t)
            refused += 1
            await asyncio.sleep(0.15)  # under the SEBI governor: each refusal is the session's
        state = (await eng.accounts.get(aid)).session_state
        calls = len(sim.admin("ratelimit")["admitted"].get("orders", {}).get(sim.api_key, []))
        placed = await eng.pool.fetchval(
            "SELECT count(*) FROM orders WHERE account_id = $1 AND broker_order_id IS NOT NULL"
            " AND client_order_id <> 'tok0'", aid)
        written = await eng.pool.fetchval(  # the first, which Kite refused; not the rest
            "SELECT count(*) FROM orders WHERE account_id = $1 AND client_order_id <> 'tok0'",
            aid)
    sim.login()  # the test's own token, for whatever runs after
    assert state == "expired"
    assert calls <= 1 and placed == 0
    assert written == 1
    assert slowest <= 1.0
    print(f"\n[fault] token expired: refused={refused}/{AFTER} broker_order_calls={calls} "
          f"slowest_refusal_s={slowest:.2f} session_state={state} rows_written={written}")
