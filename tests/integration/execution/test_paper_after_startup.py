"""The execution process as `make run` wires it (Runtime), against a kitesim process with its
rate limits on: a paper order placed right after start-up is filled from a quote, not refused
with Kite's 429 — the paper account's quotes share the Kite quote limit (1/s) with everything
else using the API key, waiting for their slot, and when Kite still answers 429 (someone
outside Mandi took the window) they wait for the next slot and ask again."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from mandi.platform.config import ClockKind, Settings
from mandi.testing.kitesim import DEFAULT_START, KitesimServer, kitesim_process
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from services.execution.orders import OrderSpec
from services.execution.wiring import PAPER_ACCOUNT, Runtime

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def runtime() -> AsyncIterator[tuple[Runtime, KitesimServer]]:
    api_key = "rt" + uuid.uuid4().hex[:10]  # Redis limiter keys of this test only
    env = {"MANDI_KITE_API_KEY": api_key}
    with kitesim_process("--start", DEFAULT_START.isoformat(), env=env) as sim:
        async with fresh_database() as dsn, redis_namespace() as ns:
            settings = dataclasses.replace(
                Settings(), pg_dsn=dsn, redis_url=ns.url, kite_api_key=api_key,
                kite_root=sim.url, kite_ws_root=sim.ws_url, clock=ClockKind.SIM)
            rt = Runtime(settings, poll_interval_s=0.5)
            try:
                yield rt, sim
            finally:
                await rt.stop()
                keys = [k async for k in ns.client.scan_iter(match=f"*{api_key}*")]
                if keys:
                    await ns.client.delete(*keys)


async def test_paper_orders_right_after_start_up_fill_without_a_429(
        runtime: tuple[Runtime, KitesimServer]) -> None:
    rt, sim = runtime
    script = sim.kite()  # the user's own script on the same API key, outside our limiter
    engine = await rt.start()
    rows = []
    for i, symbol in enumerate(["SBIN", "INFY", "TCS"]):  # three quotes: three 1/s slots
        if i == 0:  # the script takes Kite's quote window just before the first order
            script.quote(["NSE:ITC"])
        row, _ = await engine.place(PAPER_ACCOUNT, OrderSpec(
            client_order_id=f"boot-{i}", exchange="NSE", tradingsymbol=symbol, side="BUY",
            quantity=1, order_type="MARKET", product="CNC"))
        rows.append(row)
    # the paper broker matched each on arrival against the quote it fetched (its own book)
    filled = await engine.pool.fetch(
        "SELECT tradingsymbol, status, filled_quantity FROM paper_orders WHERE account_id = $1"
        " ORDER BY tradingsymbol", PAPER_ACCOUNT)
    assert [tuple(f) for f in filled] == [("INFY", "COMPLETE", 1), ("SBIN", "COMPLETE", 1),
                                          ("TCS", "COMPLETE", 1)]
    assert all(r["status"] in ("OPEN", "COMPLETE") for r in rows)  # none refused or rejected
    # the one 429 kitesim gave was the script's window: the paper quote waited and retried
    assert sim.admin("ratelimit")["refused"] in ({}, {"quote": 1})


async def test_twenty_paper_accounts_first_orders_at_once_share_one_login_and_no_429(
        runtime: tuple[Runtime, KitesimServer]) -> None:
    """Paper accounts on the platform's Kite app share one data client: their first orders,
    all at once, log in to Kite at most once and download the instrument list once between
    them (each used to log in and download it for itself: fifty accounts drew 429s)."""
    rt, sim = runtime
    engine = rt.engine or await rt.start()
    refused = sum(sim.admin("ratelimit")["refused"].values())
    issued = len(sim.admin("tokens")["tokens"])
    names = [f"PAPERX{i:02d}" for i in range(20)]
    for name in names:
        await engine.accounts.create(name, "paper")
    placed = await asyncio.gather(*(engine.place(name, OrderSpec(
        client_order_id=f"many-{name}", exchange="NSE", tradingsymbol="ITC", side="BUY",
        quantity=1, order_type="MARKET", product="CNC")) for name in names))
    assert [row["status"] in ("OPEN", "COMPLETE") for row, _ in placed] == [True] * 20
    new_tokens = len(sim.admin("tokens")["tokens"]) - issued
    assert new_tokens <= 3, f"{new_tokens} tokens issued: a login per account"
    assert sum(sim.admin("ratelimit")["refused"].values()) == refused
