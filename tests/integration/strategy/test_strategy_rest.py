"""REST → gateway → strategy service → history GetCandles, all over real sockets: the gateway
app with its real gRPC backends, the strategy service on an ephemeral port, PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

import httpx
import numpy as np
import pytest
import pytest_asyncio
import talib

from mandi.core.backtest.sizing import FixedQty
from mandi.core.clock import IST
from tests.integration.strategy.gateway_client import gateway_client
from tests.integration.strategy.reference import (
    MIS_FIXED_10,
    core_trades,
    local_run,
    rest_trades,
    served_bars,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

RUN = {"strategy": {"type": "ema_crossover", "params": {"fast": 10, "slow": 30}},
       "symbols": ["NSE:INFY"], "interval": "minute", "from": "2025-01-01", "to": "2025-02-28",
       "capital": 1000000, "sizing": {"type": "fixed_qty", "qty": 100},
       "costs": {"product": "MIS"}, "fill": "next_open"}

# RUN's range as the gateway documents it: IST dates, `to` inclusive.
RUN_FROM, RUN_TO = datetime(2025, 1, 1, tzinfo=IST), datetime(2025, 3, 1, tzinfo=IST)

LOOP = "class Strategy:\n    def on_bar(self, bar, ctx):\n        while True:\n            pass\n"


@pytest_asyncio.fixture(loop_scope="module")
async def api(strategy, history):
    async with gateway_client(strategy.port, history[1], "trader") as c:
        yield c


@pytest_asyncio.fixture(loop_scope="module")
async def admin_api(strategy, history):
    async with gateway_client(strategy.port, history[1], "admin") as c:
        yield c


async def wait_done(api: httpx.AsyncClient, backtest_id: str) -> dict:
    for _ in range(600):
        body = (await api.get(f"/api/v1/backtest/{backtest_id}")).json()
        if body["status"] in ("done", "failed", "cancelled"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"backtest {backtest_id} did not finish: {body}")


async def test_backtest_run_when_valid_returns_id_then_results(api, history):
    r = await api.post("/api/v1/backtest/run", json=RUN)
    assert r.status_code == 202, r.text
    bid = r.json()["id"]
    status = await wait_done(api, bid)
    assert status["status"] == "done", status
    assert status["symbols"] == ["NSE:INFY"] and status["capital"] == 1000000
    assert status["summary"]["trades"] > 0
    res = (await api.get(f"/api/v1/backtest/{bid}/results")).json()
    assert res["metrics"]["trades"] == len(res["trades"])
    assert res["trades"][0]["quantity"] == 100 and res["trades"][0]["side"] == "LONG"
    assert res["equity_curve"][-1]["equity"] == res["metrics"]["final_equity"]
    assert history[0].calls == ["NSE:INFY"]
    # The values: the core engine here, on the bars of 1 Jan – 28 Feb IST (`to` inclusive),
    # ₹10,00,000 and 100 shares a trade, equals what came back over REST.
    local = local_run(["NSE:INFY"], RUN_FROM, RUN_TO, "ema_crossover", {"fast": 10, "slow": 30},
                      config=replace(MIS_FIXED_10, sizer=FixedQty(100)))
    assert len(local.trades) > 0
    assert rest_trades(res["trades"]) == core_trades(local)
    assert round(res["metrics"]["net_pnl"] * 100) == local.final_equity_paise - 100_000_000
    assert round(res["metrics"]["final_equity"] * 100) == local.final_equity_paise
    assert len(res["equity_curve"]) == len(local.ts)


async def test_backtest_run_when_wait_answers_with_final_status(api):
    r = await api.post("/api/v1/backtest/run", json={**RUN, "wait": True})
    assert r.status_code == 200 and r.json()["status"] == "done"
    # It answered after the run finished: the results are there at once (a job still running
    # answers 409), and they are the run's, equal to the core engine's on the same bars.
    results = await api.get(f"/api/v1/backtest/{r.json()['id']}/results")
    assert results.status_code == 200, results.text
    local = local_run(["NSE:INFY"], RUN_FROM, RUN_TO, "ema_crossover", {"fast": 10, "slow": 30},
                      config=replace(MIS_FIXED_10, sizer=FixedQty(100)))
    assert len(local.trades) > 0
    assert rest_trades(results.json()["trades"]) == core_trades(local)
    assert round(results.json()["metrics"]["final_equity"] * 100) == local.final_equity_paise


@pytest.mark.parametrize(("change", "needle"), [
    ({"strategy": {"type": "martingale"}}, "strategy.type"),
    ({"strategy": {"type": "ema_crossover", "params": {"fast": 30, "slow": 10}}},
     "strategy.params.fast"),
    ({"symbols": []}, "symbols"),
    ({"symbols": ["INFY"]}, "symbols[0]"),
    ({"from": "2025-03-01", "to": "2025-01-01"}, "from"),
    ({"interval": "7minute"}, "interval"),
    ({"sizing": {"type": "fixed_qty"}}, "sizing.qty"),
    ({"fill": "whenever"}, "fill"),
    ({"capitol": 5}, "capitol"),
])
async def test_backtest_run_when_input_bad_is_400_naming_field(api, change, needle):
    r = await api.post("/api/v1/backtest/run", json={**RUN, **change})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["success"] is False and body["error_type"] == "validation"
    assert needle in body["error"]


async def test_backtest_run_when_custom_code_from_non_admin_is_403(api):
    r = await api.post("/api/v1/backtest/run", json={
        **RUN, "strategy": {"type": "custom", "code": LOOP}})
    assert r.status_code == 403 and r.json()["error_type"] == "forbidden"


async def test_backtest_run_when_custom_code_loops_forever_job_fails_service_serves(admin_api):
    r = await admin_api.post("/api/v1/backtest/run", json={
        **RUN, "strategy": {"type": "custom", "code": LOOP}})
    assert r.status_code == 202, r.text
    status = await wait_done(admin_api, r.json()["id"])
    assert status["status"] == "failed"
    assert "CPU time limit" in status["error"] or "timed out" in status["error"]
    again = await admin_api.post("/api/v1/backtest/run", json={**RUN, "wait": True})
    assert again.json()["status"] == "done"


async def test_backtest_delete_when_running_cancels(api, history):
    history[0].delay_s = 0.2
    bid = (await api.post("/api/v1/backtest/run", json=RUN)).json()["id"]
    r = await api.delete(f"/api/v1/backtest/{bid}")
    assert r.status_code == 200 and r.json()["id"] == bid
    assert (await wait_done(api, bid))["status"] == "cancelled"
    results = await api.get(f"/api/v1/backtest/{bid}/results")
    assert results.status_code == 409


async def test_backtest_get_when_unknown_id_is_404_and_malformed_is_400(api):
    missing = await api.get("/api/v1/backtest/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert (await api.get("/api/v1/backtest/not-a-uuid")).status_code == 400


async def test_strategy_current_when_put_then_get_validate_export_import(api):
    assert (await api.get("/api/v1/strategy")).status_code == 404
    put = await api.put("/api/v1/strategy", json={"type": "rsi", "params": {"period": 10}})
    assert put.status_code == 200, put.text
    got = (await api.get("/api/v1/strategy")).json()["strategy"]
    assert got["type"] == "rsi" and got["params"]["period"] == 10
    exported = (await api.get("/api/v1/strategy/export")).json()
    assert exported["type"] == "rsi"
    exported["params"]["period"] = 21
    imp = await api.post("/api/v1/strategy/import", json=exported)
    assert imp.status_code == 200, imp.text
    assert imp.json()["strategy"]["version"] == 2
    assert (await api.get("/api/v1/strategy")).json()["strategy"]["params"]["period"] == 21
    bad = await api.post("/api/v1/strategy/validate",
                         json={"type": "ema_crossover", "params": {"fast": 50, "slow": 20}})
    assert bad.status_code == 200
    assert bad.json()["valid"] is False
    assert bad.json()["errors"][0]["field"] == "params.fast"


async def test_strategy_import_when_json_malformed_is_400(api):
    r = await api.post("/api/v1/strategy/import", content=b'{"type": "rsi", ',
                       headers={"content-type": "application/json"})
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]
    r = await api.post("/api/v1/strategies/import", content=b"[1, 2]",
                       headers={"content-type": "application/json"})
    assert r.status_code == 400


async def test_strategies_when_created_listed_and_deleted(api):
    r = await api.post("/api/v1/strategies", json={
        "name": "swing", "type": "macd", "params": {"fast": 8, "slow": 21, "signal": 5}})
    assert r.status_code == 201, r.text
    sid = r.json()["strategy"]["id"]
    dup = await api.post("/api/v1/strategies", json={"name": "swing", "type": "rsi"})
    assert dup.status_code == 409
    listed = (await api.get("/api/v1/strategies")).json()
    assert [s["name"] for s in listed["strategies"]] == ["swing"] and listed["total"] == 1
    run = await api.post("/api/v1/backtest/run", json={**RUN, "strategy": {"id": sid},
                                                      "wait": True})
    assert run.json()["status"] == "done", run.text
    assert (await api.delete(f"/api/v1/strategies/{sid}")).status_code == 200
    assert (await api.get(f"/api/v1/strategies/{sid}")).status_code == 404


async def test_analysis_indicators_when_requested_returns_aligned_series(api):
    r = await api.get("/api/v1/analysis/indicators", params={
        "symbol": "NSE:INFY", "interval": "minute", "from": "2025-01-01", "to": "2025-01-03",
        "indicators": "ema:5,rsi:14,macd,bollinger:20:2"})
    assert r.status_code == 200, r.text
    body = r.json()
    n = len(body["ts"])
    assert n == 375 * 3  # three sessions of minute bars: `to` is inclusive
    series = body["indicators"]
    assert set(series) >= {"ema_5", "rsi_14", "macd_12_26_9", "bb_20_2_upper"}
    assert all(len(v) == n for v in series.values())
    assert series["ema_5"][0] is None and series["ema_5"][10] is not None
    # The values, against TA-Lib on the same bars (1–3 Jan IST, `to` inclusive): null where
    # TA-Lib is still warming up, equal after to the 6 decimals the endpoint rounds to.
    close = served_bars("NSE:INFY", RUN_FROM, datetime(2025, 1, 4, tzinfo=IST)).close
    assert body["close"] == close.tolist()
    upper, _, _ = talib.BBANDS(close, 20, 2.0, 2.0)
    reference = {"ema_5": talib.EMA(close, 5), "rsi_14": talib.RSI(close, 14),
                 "macd_12_26_9": talib.MACD(close, 12, 26, 9)[0], "bb_20_2_upper": upper}
    for key, ref in reference.items():
        got = np.array([np.nan if x is None else x for x in series[key]])
        warm = ~np.isnan(ref)
        assert warm.sum() > n - 40, key  # nearly every bar is compared
        np.testing.assert_allclose(got[warm], ref[warm], rtol=0, atol=5e-7 + 1e-9, err_msg=key)
        assert np.isnan(got[~warm]).all(), key
    bad = await api.get("/api/v1/analysis/indicators", params={
        "symbol": "NSE:INFY", "from": "2025-01-01", "to": "2025-01-03", "indicators": "zzz"})
    assert bad.status_code == 400 and "indicators" in bad.json()["error"]


async def test_analysis_stats_when_requested_summarises_returns_and_correlation(api):
    r = await api.get("/api/v1/analysis/stats", params={
        "symbols": "NSE:INFY,NSE:TCS", "interval": "minute", "from": "2025-01-01",
        "to": "2025-01-31"})
    assert r.status_code == 200, r.text
    body = r.json()
    infy = body["symbols"]["NSE:INFY"]
    assert infy["bars"] > 1000 and infy["returns"] >= 15  # one per trading day
    assert 0 <= infy["max_drawdown"] < 1
    assert infy["total_return"] == pytest.approx(infy["last_close"] / infy["first_close"] - 1)
    assert sum(infy["distribution"]["hist_counts"]) == infy["returns"]
    assert body["correlation"]["NSE:INFY"]["NSE:INFY"] == pytest.approx(1.0)
    assert -1 <= body["correlation"]["NSE:INFY"]["NSE:TCS"] <= 1
    empty = await api.get("/api/v1/analysis/stats", params={
        "symbol": "NSE:EMPTYCO", "from": "2025-01-01", "to": "2025-01-31"})
    assert empty.status_code == 404


async def test_strategy_types_when_listed_include_bounds_and_custom(api):
    r = await api.get("/api/v1/strategy/types")
    assert r.status_code == 200, r.text
    types = {t["type"]: t for t in r.json()["types"]}
    assert {"ema_crossover", "rsi", "macd_cross", "bollinger_reversion", "rules",
            "momentum_ladder", "custom"} <= set(types)
    fast = next(p for p in types["ema_crossover"]["params"] if p["name"] == "fast")
    assert (fast["type"], fast["min"], fast["default"]) == ("int", 1, 10)
