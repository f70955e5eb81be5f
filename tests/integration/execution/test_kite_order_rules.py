"""What the execution service sends to Kite for the order rules, read where it lands: kitesim
(in-process) driven by the unmodified kiteconnect client through KiteBroker. A modify to MARKET
carries market protection (Kite rejects it without); TTL and disclosed quantity reach the
broker's order book."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from mandi.kite.client import KiteClient
from mandi.platform.db import create_pool
from mandi.platform.simclock import SimClock
from mandi.testing.kitesim import KitesimServer, kitesim_server  # noqa: F401  (fixture)
from mandi.testing.redis import redis_namespace
from services.execution.accounts import AccountStore, CredentialBox, Credentials
from services.execution.brokers.kite import KiteBroker
from services.execution.engine import BrokerRegistry, Engine
from services.execution.events import EventBus
from services.execution.orders import OrderSpec
from tests.integration.execution.kit import new_account_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(scope="module")
def sim(request: pytest.FixtureRequest) -> KitesimServer:  # the shared logged-in simulator
    return request.getfixturevalue("kitesim_server")


@pytest_asyncio.fixture(loop_scope="module")
async def engine(ledger_dsn: str, sim: KitesimServer) -> AsyncIterator[Engine]:
    pool = await create_pool(ledger_dsn, schema="execution")
    clock = SimClock(sim.url, resync_s=0.5)
    await clock.start()

    def factory(account: Any) -> Any:
        c = account.credentials
        return KiteBroker(KiteClient(c.api_key, access_token=c.access_token, root=c.root))

    async with redis_namespace() as ns:
        eng = Engine(pool, ns.client, clock, AccountStore(pool, CredentialBox("t")),
                     BrokerRegistry(factory), EventBus(ns.client, ns.prefix + "ev"),
                     redis_prefix=ns.prefix.rstrip(":"))
        eng.ltp_ttl_s = 0.0
        try:
            yield eng
        finally:
            await eng.brokers.close()
            await clock.close()
            await pool.close()


async def _kite_account(engine: Engine, sim: KitesimServer) -> str:
    aid = new_account_id()
    await engine.accounts.create(aid, "kite", credentials=Credentials(
        api_key=sim.api_key, access_token=sim.access_token or "", root=sim.url))
    return aid


def _resting_buy(sim: KitesimServer) -> int:
    """A LIMIT 3 % under the LTP (inside the 5 % collar, far from a fill), on the 5-paise tick."""
    ltp = round(sim.kite().quote(["NSE:SBIN"])["NSE:SBIN"]["last_price"] * 100)
    return ltp * 97 // 100 // 5 * 5


async def test_modify_to_market_sends_market_protection(engine: Engine, sim: KitesimServer,
                                                        monkeypatch) -> None:
    aid = await _kite_account(engine, sim)
    row, _ = await engine.place(aid, OrderSpec(
        client_order_id="mp1", exchange="NSE", tradingsymbol="SBIN", side="BUY", quantity=1,
        order_type="LIMIT", product="CNC", price_paise=_resting_buy(sim)))
    assert row["status"] == "OPEN"
    seen: list[dict] = []
    modify = sim.sim.oms.modify

    def spy(variety: str, order_id: str, form: dict) -> Any:  # what arrived over HTTP
        seen.append(dict(form))
        return modify(variety, order_id, form)

    monkeypatch.setattr(sim.sim.oms, "modify", spy)
    got = await engine.modify(aid, row["order_id"], order_type="MARKET")
    assert len(seen) == 1 and seen[0]["order_type"] == "MARKET"
    assert float(seen[0]["market_protection"]) == 2.0  # Mandi's default percent
    assert got["order_type"] == "MARKET" and got["price_paise"] == 0


async def test_ttl_and_disclosed_quantity_reach_the_broker(engine: Engine,
                                                           sim: KitesimServer) -> None:
    aid = await _kite_account(engine, sim)
    row, _ = await engine.place(aid, OrderSpec(
        client_order_id="ttl1", exchange="NSE", tradingsymbol="SBIN", side="BUY", quantity=10,
        order_type="LIMIT", product="CNC", price_paise=_resting_buy(sim), validity="TTL",
        validity_ttl=7, disclosed_quantity=2))
    at_kite = sim.kite().order_history(row["broker_order_id"])[-1]
    assert (at_kite["validity"], at_kite["validity_ttl"], at_kite["disclosed_quantity"]) == \
        ("TTL", 7, 2)
