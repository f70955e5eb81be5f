"""Execution's order, rejection and daily-loss metrics as Prometheus scrapes them: the real order
path (PostgreSQL, Redis, the paper broker) moves them, and each test reads the `/metrics` text
the service's endpoint serves (mandi.platform.telemetry.start_metrics_server)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mandi.core.clock import IST
from mandi.platform.telemetry import start_metrics_server
from services.execution.accounts import RiskLimits
from services.execution.risk import RiskRejected
from services.execution.sync import sync_account
from services.execution.worker import Worker
from tests.integration.execution.kit import Env, spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(scope="module")
def metrics_url() -> Iterator[str]:
    server = start_metrics_server(0)
    try:
        yield f"http://127.0.0.1:{server.port}/metrics"
    finally:
        server.close()


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, its labels) → value, from the endpoint's exposition text."""
    text = httpx.get(url, timeout=5).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name.startswith("mandi_execution_")}


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def day_of(samples: dict, aid: str) -> dict[str, float | None]:
    return {"realized": value(samples, "mandi_execution_pnl_paise", account=aid, kind="realized"),
            "mtm": value(samples, "mandi_execution_pnl_paise", account=aid, kind="mtm"),
            "used": value(samples, "mandi_execution_daily_loss_used_paise", account=aid),
            "limit": value(samples, "mandi_execution_daily_loss_limit_paise", account=aid),
            "latched": value(samples, "mandi_execution_daily_loss_latched", account=aid)}


async def test_metrics_count_a_rejection_by_rule_and_orders_by_status(env: Env,
                                                                      metrics_url: str) -> None:
    aid = await env.add_account(replace(RiskLimits(), max_order_quantity=100))
    rule = "mandi_execution_order_rejections_total"
    orders = "mandi_execution_orders_total"
    before = scrape(metrics_url)
    with pytest.raises(RiskRejected):
        await env.engine.place(aid, spec(quantity=101))
    env.price("NSE:SBIN", 812.00)
    row, _ = await env.engine.place(aid, spec(quantity=10))
    await sync_account(env.engine, (await env.engine.account(aid))[0])  # the paper fill
    after = scrape(metrics_url)

    def delta(name: str, **labels: str) -> float:
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    assert delta(rule, rule="max_order_quantity") == 1
    assert delta(rule, rule="price_collar") == 0
    # the refused order wrote no row; the accepted one was PENDING, then acked, then filled
    assert row["status"] == "OPEN"
    assert delta(orders, status="PENDING") == 1
    assert delta(orders, status="OPEN") == 1
    assert delta(orders, status="COMPLETE") == 1
    assert delta(orders, status="REJECTED") == 0


async def test_metrics_show_the_days_loss_and_the_latch(env: Env, metrics_url: str) -> None:
    aid = await env.add_account(replace(RiskLimits(), daily_loss_limit_paise=50_000))  # ₹500
    account, _ = await env.engine.account(aid)
    env.price("NSE:SBIN", 812.00)  # the 812.35 buy fills at the ask 812.05: cost ₹8,120.50
    await env.engine.place(aid, spec(quantity=10))
    await sync_account(env.engine, account)
    env.price("NSE:SBIN", 770.00)  # open loss ₹420.50: under the limit
    await sync_account(env.engine, account)
    assert day_of(scrape(metrics_url), aid) == {
        "realized": 0, "mtm": -42_050, "used": 42_050, "limit": 50_000, "latched": 0}
    env.price("NSE:SBIN", 760.00)  # open loss ₹520.50: latched
    await sync_account(env.engine, account)
    assert day_of(scrape(metrics_url), aid) == {
        "realized": 0, "mtm": -52_050, "used": 52_050, "limit": 50_000, "latched": 1}
    with pytest.raises(RiskRejected) as exc:
        await env.engine.place(aid, spec(tradingsymbol="INFY", price_paise=150000))
    assert exc.value.rule == "daily_loss_limit"
    # the exit books the loss: realized now, nothing open, still latched
    env.price("NSE:SBIN", 760.00)
    await env.engine.place(aid, spec(side="SELL", price_paise=75900, allow_duplicate=True))
    await sync_account(env.engine, account)
    day = day_of(scrape(metrics_url), aid)
    assert day["mtm"] == 0 and day["realized"] < -52_000 and day["latched"] == 1
    assert day["used"] == -day["realized"]


async def test_worker_publishes_an_idle_account_resets_on_a_new_day_and_drops_what_it_does_not_lead(
        env: Env, metrics_url: str) -> None:
    aid = await env.add_account(replace(RiskLimits(), daily_loss_limit_paise=50_000))
    account, _ = await env.engine.account(aid)
    env.price("NSE:SBIN", 812.00)
    await env.engine.place(aid, spec(quantity=10))
    await sync_account(env.engine, account)
    env.price("NSE:SBIN", 750.00)  # a ₹620 loss on the exit latches the day
    await env.engine.place(aid, spec(side="SELL", price_paise=74000, allow_duplicate=True))
    await sync_account(env.engine, account)
    assert day_of(scrape(metrics_url), aid)["latched"] == 1
    idle = await env.add_account()
    worker = Worker(env.engine)
    await worker.run_once()  # an account with no trade and no position still gets its series
    assert day_of(scrape(metrics_url), idle) == {
        "realized": 0, "mtm": 0, "used": 0, "limit": RiskLimits().daily_loss_limit_paise,
        "latched": 0}
    assert day_of(scrape(metrics_url), aid)["latched"] == 1
    env.clock.set(datetime(2026, 3, 11, 9, 20, tzinfo=IST))  # the next IST day: latch gone
    await worker.run_once()
    assert day_of(scrape(metrics_url), aid) == {
        "realized": 0, "mtm": 0, "used": 0, "limit": 50_000, "latched": 0}
    # another replica leads these accounts from now on: this one drops their series
    await env.engine.redis.delete(f"{env.engine.redis_prefix}:lease:{aid}",
                                  f"{env.engine.redis_prefix}:lease:{idle}")
    other = Worker(env.engine)
    assert await other._lead(aid) and await other._lead(idle)
    await worker.run_once()
    samples = scrape(metrics_url)
    assert set(day_of(samples, aid).values()) == {None}
    assert set(day_of(samples, idle).values()) == {None}
