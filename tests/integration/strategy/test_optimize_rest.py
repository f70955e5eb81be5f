"""Optimisation over REST as a job: POST /api/v1/optimize → 202 {id}, GET /api/v1/optimize/{id}
→ status, progress and results ranked by the chosen metric, whose top is what a direct backtest
of the same parameters reports; bad input is a 400 naming the field before any job exists."""

from __future__ import annotations

import asyncio
import json

import pytest
import pytest_asyncio

from tests.integration.strategy.gateway_client import gateway_client
from tests.integration.strategy.test_strategy_rest import RUN

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

BODY = {**{k: v for k, v in RUN.items() if k != "strategy"},
        "strategy": {"type": "ema_crossover"}, "from": "2025-01-01", "to": "2025-02-15",
        "param_grid": {"fast": [5, 10, 15, 20], "slow": {"start": 30, "stop": 60, "step": 30}},
        "metric": "sharpe"}
UNKNOWN = "00000000-0000-0000-0000-000000000000"


@pytest_asyncio.fixture(loop_scope="module")
async def api(strategy, history):
    async with gateway_client(strategy.port, history[1], "trader") as c:
        yield c


async def wait_optimized(api, oid: str) -> dict:
    for _ in range(1200):
        r = await api.get(f"/api/v1/optimize/{oid}")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in ("done", "failed", "cancelled"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"optimisation {oid} did not finish: {body}")


async def direct(api, params: dict) -> dict:
    body = {k: v for k, v in BODY.items() if k not in ("param_grid", "metric")}
    r = await api.post("/api/v1/backtest/run", json={
        **body, "strategy": {"type": "ema_crossover", "params": params}, "wait": True})
    assert r.json()["status"] == "done", r.text
    return (await api.get(f"/api/v1/backtest/{r.json()['id']}/results")).json()["metrics"]


async def test_optimize_when_grid_ranks_by_metric_and_top_equals_direct_backtest(api):
    r = await api.post("/api/v1/optimize", json=BODY)
    assert r.status_code == 202, r.text
    assert r.json()["combinations"] == 8
    out = await wait_optimized(api, r.json()["id"])
    assert out["status"] == "done" and out["progress"] == 1 and out["error"] is None
    assert (out["done"], out["total"], out["metric"], out["method"]) == (8, 8, "sharpe", "grid")
    results = out["results"]
    assert len(results) == 8 and [x["rank"] for x in results] == list(range(1, 9))
    sharpes = [x["metrics"]["sharpe"] for x in results]
    assert sharpes == sorted(sharpes, reverse=True)
    assert {(x["params"]["fast"], x["params"]["slow"]) for x in results} == {
        (f, s) for f in (5, 10, 15, 20) for s in (30, 60)}
    top = results[0]
    assert set(top["params"]) == {"fast", "slow"}
    # the winner run as an ordinary backtest reports the same metrics
    got = await direct(api, top["params"])
    assert got["sharpe"] == pytest.approx(top["metrics"]["sharpe"], rel=1e-9)
    assert got["net_pnl"] == top["metrics"]["net_pnl"]
    assert got["trades"] == top["metrics"]["trades"]
    # and beats the last-ranked one the same way
    worst = await direct(api, results[-1]["params"])
    assert worst["sharpe"] == pytest.approx(results[-1]["metrics"]["sharpe"], rel=1e-9)
    assert got["sharpe"] >= worst["sharpe"]
    # an optimisation is not a backtest: not in the history, not under /backtest
    listed = [b["id"] for b in (await api.get("/api/v1/backtests")).json()["backtests"]]
    assert len(listed) == 2 and out["id"] not in listed  # the two direct runs only
    assert (await api.get(f"/api/v1/backtest/{out['id']}")).status_code == 404


async def test_optimize_when_metric_is_drawdown_ranks_smallest_first(api):
    r = await api.post("/api/v1/optimize", json={**BODY, "metric": "max_drawdown"})
    out = await wait_optimized(api, r.json()["id"])
    dds = [x["metrics"]["max_drawdown"] for x in out["results"]]
    assert out["status"] == "done" and dds == sorted(dds) and len(dds) == 8


async def test_optimize_when_walk_forward_reports_windows_out_of_sample(api):
    r = await api.post("/api/v1/optimize", json={
        **BODY, "method": "walk_forward", "walk_forward_splits": 2, "in_sample_fraction": 0.6,
        "param_grid": {"fast": [5, 10], "slow": [30]}})
    assert r.status_code == 202, r.text
    out = await wait_optimized(api, r.json()["id"])
    assert out["status"] == "done" and out["method"] == "walk_forward", out
    assert [w["window"] for w in out["windows"]] == [0, 1]
    assert all(w["out_of_sample"]["trades"] >= 0 and w["params"]["fast"] in (5, 10)
               for w in out["windows"])


@pytest.mark.parametrize(("change", "needle"), [
    ({"param_grid": {"fast": {"start": 1, "stop": 100, "step": 1},
                     "slow": {"start": 101, "stop": 200, "step": 1}}}, "param_grid"),
    ({"param_grid": {"fsat": [5]}}, "param_grid.fsat"),
    ({"param_grid": {"fast": {"start": 10, "stop": 5, "step": 1}}}, "param_grid.fast"),
    ({"param_grid": {}}, "param_grid"),
    ({"metric": "luck"}, "metric"),
    ({"method": "genetic"}, "method"),
    ({"symbols": ["NSE:INFY", "NSE:TCS"]}, "symbols"),
    ({"strategy": {"type": "martingale"}}, "strategy.type"),
    ({"from": "2025-03-01", "to": "2025-01-01"}, "from"),
])
async def test_optimize_when_input_bad_is_400_naming_field(api, change, needle):
    r = await api.post("/api/v1/optimize", json={**BODY, **change})
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"], r.json()


async def test_optimize_get_when_unknown_is_404_and_backtest_id_is_not_an_optimisation(api):
    assert (await api.get(f"/api/v1/optimize/{UNKNOWN}")).status_code == 404
    assert (await api.get("/api/v1/optimize/nope")).status_code == 400
    run = await api.post("/api/v1/backtest/run", json={**RUN, "wait": True})
    assert (await api.get(f"/api/v1/optimize/{run.json()['id']}")).status_code == 404


async def test_optimize_get_when_other_users_job_is_404(api, strategy, history):
    oid = (await api.post("/api/v1/optimize", json={
        **BODY, "param_grid": {"fast": [5], "slow": [30]}})).json()["id"]
    async with gateway_client(strategy.port, history[1], "trader") as other:
        assert (await other.get(f"/api/v1/optimize/{oid}")).status_code == 404
    assert (await wait_optimized(api, oid))["status"] == "done"


@pytest.mark.parametrize("grid", [
    {"fast": {"start": "nan", "stop": 10, "step": 1}},
    {"fast": [float("inf")]},
    {"fast": {"start": 1, "stop": 1e300, "step": 1e-300}},
    {"fast": "5,10"},
    {"a\x00b": [1]},
    {"fast": [1e308, -1e308]},
])
async def test_optimize_when_grid_nasty_is_400_never_5xx(api, grid):
    r = await api.post("/api/v1/optimize", content=json.dumps(
        {**BODY, "param_grid": grid}).encode(), headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    # a NUL anywhere in a body is refused by the gateway's text guard, naming the body
    assert ("body" if "\x00" in json.dumps(grid) or "\\u0000" in json.dumps(grid)
            else "param_grid") in r.json()["error"]


async def test_optimize_delete_when_finished_deletes_when_running_cancels(api, history):
    done_id = (await api.post("/api/v1/optimize", json={
        **BODY, "param_grid": {"fast": [5], "slow": [30]}})).json()["id"]
    assert (await wait_optimized(api, done_id))["status"] == "done"
    # the backtest routes do not reach an optimisation, nor the reverse
    assert (await api.delete(f"/api/v1/backtest/{done_id}")).status_code == 404
    r = await api.delete(f"/api/v1/optimize/{done_id}")
    assert r.status_code == 200 and r.json()["action"] == "deleted", r.text
    assert (await api.get(f"/api/v1/optimize/{done_id}")).status_code == 404
    assert (await api.delete(f"/api/v1/optimize/{done_id}")).status_code == 404

    history[0].delay_s = 0.2
    busy = (await api.post("/api/v1/optimize", json=BODY)).json()["id"]
    r = await api.delete(f"/api/v1/optimize/{busy}")
    assert r.status_code == 200 and r.json()["action"] == "cancelled", r.text
    assert (await wait_optimized(api, busy))["status"] == "cancelled"
    run = await api.post("/api/v1/backtest/run", json={**RUN, "wait": True})
    assert (await api.delete(f"/api/v1/optimize/{run.json()['id']}")).status_code == 404
    assert (await api.delete(f"/api/v1/optimize/{UNKNOWN}")).status_code == 404
