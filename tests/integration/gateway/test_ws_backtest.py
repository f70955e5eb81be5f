"""`/ws/backtest/{id}` with the real `websockets` client, the real gateway and strategy service:
a running backtest's results so far (`partial`: equity, trades, net P&L, the curve, the newest
trades) arrive while it runs and agree with its stored results; the id of `POST
/api/v1/optimize` streams the optimisation's progress and ranking so far on the same channel;
another user's run or optimisation is refused (4404).

The runs use a test strategy type, EMA crossover that pauses a moment every few hundred bars
(and per combination in the optimiser's fast path), registered in the library's registry of
this process — so that a run lasts long enough to be watched at the gateway's 0.5 s polls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import websockets

from tests.integration.gateway.ws_kit import (
    RUN,
    PacedEma,
    WsStack,
    close_code,
    next_message,
    paced_strategy,
    until,
    ws_stack,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
FINAL = ("done", "failed", "cancelled")


@pytest.fixture(scope="module", autouse=True)
def paced() -> Iterator[None]:
    with paced_strategy():
        yield


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack() -> AsyncIterator[WsStack]:
    async with ws_stack(bots=True, MANDI_GATEWAY_WS_PING_S="1") as s:
        yield s



async def test_a_running_backtest_sends_its_results_so_far(stack: WsStack) -> None:
    r = await stack.http["trader_a"].post("/api/v1/backtest/run", json=RUN)
    assert r.status_code == 202, r.text
    bid = r.json()["id"]
    async with websockets.connect(stack.ws_url(f"/ws/backtest/{bid}", "trader_a")) as ws:
        snap = await next_message(ws)
        assert snap["type"] == "snapshot" and snap["data"]["kind"] == "backtest"
        got = await until(ws, lambda m: m["data"]["status"] in FINAL, 90)
    assert got[-1]["data"]["status"] == "done", got[-1]
    running = [m["data"]["partial"] for m in got
               if m["data"]["status"] == "running" and m["data"]["partial"]]
    assert running, "no results so far were sent while it ran"
    bars = [p["bars_done"] for p in running]
    assert bars == sorted(bars) and 0 < bars[-1]
    last = running[-1]
    assert last["trades"] > 0 and len(last["recent_trades"]) == min(last["trades"], 20)
    assert last["equity_curve"] and last["equity_curve"][-1]["equity"] == last["equity"]
    assert got[-1]["data"]["partial"] is None  # done: the stored results are the truth
    results = (await stack.http["trader_a"].get(f"/api/v1/backtest/{bid}/results")).json()
    stored = results["trades"]
    assert stored[:last["trades"]][-1] == last["recent_trades"][-1]  # the same trades, so far
    assert round(sum(t["net_pnl"] for t in stored[:last["trades"]]), 2) == \
        round(last["net_pnl"], 2)
    assert await close_code(stack.ws_url(f"/ws/backtest/{bid}", "trader_b")) == 4404


async def test_an_optimisations_progress_and_ranking_on_the_same_channel(
        stack: WsStack) -> None:
    body = {**{k: v for k, v in RUN.items() if k != "strategy"},
            "strategy": {"type": PacedEma.type_name}, "from": "2025-01-01",
            "to": "2025-01-20", "param_grid": {"fast": list(range(3, 13)), "slow": [20, 25, 30]},
            "metric": "total_return"}
    r = await stack.http["trader_a"].post("/api/v1/optimize", json=body)
    assert r.status_code == 202, r.text
    oid = r.json()["id"]
    async with websockets.connect(stack.ws_url(f"/ws/backtest/{oid}", "trader_a")) as ws:
        snap = await next_message(ws)
        assert snap["channel"] == "backtest" and snap["data"]["kind"] == "optimization"
        assert snap["data"]["id"] == oid and snap["data"]["metric"] == "total_return"
        got = await until(ws, lambda m: m["data"]["status"] in FINAL, 90)
    final = got[-1]["data"]
    assert final["status"] == "done" and (final["done"], final["total"]) == (30, 30)
    rest = (await stack.http["trader_a"].get(f"/api/v1/optimize/{oid}")).json()
    assert final["results"] == rest["results"]
    pnls = [x["metrics"]["total_return"] for x in final["results"]]
    assert pnls == sorted(pnls, reverse=True)
    done = [snap["data"]["done"]] + [m["data"]["done"] for m in got]
    assert done == sorted(done) and len(set(done)) >= 3, done  # seen while it ran
    assert any(m["data"]["status"] == "running" and m["data"]["results"] for m in got)
    assert await close_code(stack.ws_url(f"/ws/backtest/{oid}", "trader_b")) == 4404
