"""The strategy service over real gRPC: definitions CRUD, validation, import/export, and
backtest jobs reading candles from a real HistoryService peer, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import asyncpg
import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2

from mandi.platform.protoconv import to_timestamp
from mandi.v1 import common_pb2, strategy_pb2
from tests.integration.strategy.conftest import StrategyProcess, fast_options
from tests.integration.strategy.reference import assert_same_backtest, local_run, served_bars
from tests.integration.strategy.signals import (
    bar_index,
    can_enter_after,
    ema_crosses,
    open_at,
    open_paise,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

ADMIN = (("mandi-user", "root"), ("mandi-role", "admin"))
JAN, MAR = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)  # spec()'s range
USER = (("mandi-user", "asha"),)


def struct(d: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(d)
    return s


def ema(fast=10, slow=30, name="") -> strategy_pb2.StrategyDef:
    return strategy_pb2.StrategyDef(name=name, type="ema_crossover",
                                    params=struct({"fast": fast, "slow": slow}))


def spec(strategy=None, symbols=("INFY",), start="2025-01-01", end="2025-03-01",
         **kw) -> strategy_pb2.BacktestSpec:
    s = strategy_pb2.BacktestSpec(
        strategy=strategy or ema(),
        symbols=[common_pb2.SymbolRef(exchange=common_pb2.EXCHANGE_NSE, tradingsymbol=t)
                 for t in symbols],
        interval="minute", capital_paise=100_000_000,
        sizing=strategy_pb2.Sizing(type="fixed_qty", qty=10),
        costs=strategy_pb2.Costs(product=strategy_pb2.PRODUCT_MIS), **kw)
    getattr(s, "from").CopyFrom(to_timestamp(datetime.fromisoformat(start).replace(tzinfo=UTC)))
    s.to.CopyFrom(to_timestamp(datetime.fromisoformat(end).replace(tzinfo=UTC)))
    return s


async def run_to_end(stub, s, metadata=USER) -> list[strategy_pb2.BacktestProgress]:
    return [p async for p in stub.RunBacktest(
        strategy_pb2.RunBacktestRequest(spec=s), metadata=metadata, timeout=60)]


async def wait_state(stub, backtest_id, states, metadata=USER, timeout_s=30.0):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        bt = (await stub.GetBacktest(strategy_pb2.GetBacktestRequest(id=backtest_id),
                                     metadata=metadata)).backtest
        if bt.state in states:
            return bt
        assert asyncio.get_running_loop().time() < deadline, f"stuck in {bt.state}"
        await asyncio.sleep(0.05)


# --- definitions ---------------------------------------------------------------------------------
async def test_create_strategy_when_valid_is_listed_and_exported(strategy, user):
    stub = strategy.stub
    USER = user  # a user of this test only: the listing must be exactly ours
    created = (await stub.CreateStrategy(strategy_pb2.CreateStrategyRequest(
        strategy=ema(5, 20, name="fast ema")), metadata=USER)).strategy
    assert created.id and created.owner == user[0][1] and created.version == 1
    assert dict(created.params) ["fast"] == 5
    listed = await stub.ListStrategies(strategy_pb2.ListStrategiesRequest(), metadata=USER)
    assert [s.name for s in listed.strategies] == ["fast ema"]
    other = await stub.ListStrategies(strategy_pb2.ListStrategiesRequest(),
                                      metadata=(("mandi-user", "bob"),))
    assert list(other.strategies) == []
    doc = json.loads((await stub.ExportStrategy(strategy_pb2.ExportStrategyRequest(
        id=created.id), metadata=USER)).json)
    assert doc["type"] == "ema_crossover" and doc["params"]["fast"] == 5
    doc["name"] = "copy"
    imported = (await stub.ImportStrategy(strategy_pb2.ImportStrategyRequest(
        json=json.dumps(doc)), metadata=USER)).strategy
    assert imported.name == "copy" and imported.id != created.id


async def test_update_strategy_when_params_change_bumps_version(strategy):
    stub = strategy.stub
    created = (await stub.CreateStrategy(strategy_pb2.CreateStrategyRequest(
        strategy=ema(name="a")), metadata=USER)).strategy
    created.params.update({"fast": 12})
    updated = (await stub.UpdateStrategy(strategy_pb2.UpdateStrategyRequest(
        strategy=created), metadata=USER)).strategy
    assert updated.version == 2 and updated.params["fast"] == 12
    await stub.DeleteStrategy(strategy_pb2.DeleteStrategyRequest(id=created.id), metadata=USER)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetStrategy(strategy_pb2.GetStrategyRequest(id=created.id), metadata=USER)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(("definition", "field"), [
    (strategy_pb2.StrategyDef(name="x", type="nope"), "type"),
    (ema(30, 10, name="x"), "params.fast"),
    (strategy_pb2.StrategyDef(name="x", type="rsi", params=struct({"period": 0})),
     "params.period"),
    (strategy_pb2.StrategyDef(name="x", type="ema_crossover", params=struct({"fsat": 3})),
     "params.fsat"),
])
async def test_create_strategy_when_invalid_is_invalid_argument_naming_field(
        strategy, definition, field):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await strategy.stub.CreateStrategy(
            strategy_pb2.CreateStrategyRequest(strategy=definition), metadata=USER)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field}:")


async def test_validate_strategy_when_fast_not_below_slow_lists_field_error(strategy):
    resp = await strategy.stub.ValidateStrategy(
        strategy_pb2.ValidateStrategyRequest(strategy=ema(30, 30)), metadata=USER)
    assert not resp.valid
    assert [e.field for e in resp.errors] == ["params.fast"]
    ok = await strategy.stub.ValidateStrategy(
        strategy_pb2.ValidateStrategyRequest(strategy=ema(5, 30)), metadata=USER)
    assert ok.valid and not ok.errors


async def test_import_strategy_when_json_malformed_is_invalid_argument(strategy):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await strategy.stub.ImportStrategy(
            strategy_pb2.ImportStrategyRequest(json='{"type": "ema_crossover",'), metadata=USER)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed JSON" in err.value.details()


async def test_create_strategy_when_custom_from_non_admin_is_permission_denied(strategy):
    custom = strategy_pb2.StrategyDef(
        name="mine", type="custom",
        code="class Strategy:\n    def on_bar(self, bar, ctx):\n        return 1\n")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await strategy.stub.CreateStrategy(
            strategy_pb2.CreateStrategyRequest(strategy=custom), metadata=USER)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    created = (await strategy.stub.CreateStrategy(
        strategy_pb2.CreateStrategyRequest(strategy=custom), metadata=ADMIN)).strategy
    assert created.type == "custom" and created.owner == "root"


# --- backtests -----------------------------------------------------------------------------------
async def test_run_backtest_when_valid_streams_progress_and_stores_results(strategy, history):
    progress = await run_to_end(strategy.stub, spec(symbols=("INFY", "TCS")))
    assert progress[0].state in (common_pb2.JOB_STATE_QUEUED, common_pb2.JOB_STATE_RUNNING)
    final = progress[-1]
    assert final.state == common_pb2.JOB_STATE_DONE, final.error
    assert final.progress == 1.0 and final.bars_total > 10_000
    assert sorted(set(history[0].calls)) == ["NSE:INFY", "NSE:TCS"]
    res = await strategy.stub.GetBacktestResults(
        strategy_pb2.GetBacktestResultsRequest(id=final.backtest_id), metadata=USER)
    assert res.metrics.trades == len(res.trades) > 0
    assert {t.symbol for t in res.trades} == {"NSE:INFY", "NSE:TCS"}
    assert len(res.equity) > 10_000
    assert res.equity[-1].equity_paise == res.metrics.final_equity_paise
    assert res.metrics.net_pnl_paise == res.metrics.final_equity_paise - 100_000_000
    assert sum(t.net_pnl_paise for t in res.trades) == res.metrics.net_pnl_paise
    assert res.backtest.summary.trades == res.metrics.trades
    # The values, not just their consistency: the core engine on the same bars, run here.
    assert_same_backtest(res, local_run(["NSE:INFY", "NSE:TCS"], JAN, MAR, "ema_crossover",
                                        {"fast": 10, "slow": 30}))


async def test_run_backtest_when_stored_strategy_id_given_uses_it(strategy):
    created = (await strategy.stub.CreateStrategy(strategy_pb2.CreateStrategyRequest(
        strategy=ema(5, 50, name="stored")), metadata=USER)).strategy
    s = spec()
    s.ClearField("strategy")
    s.strategy_id = created.id
    final = (await run_to_end(strategy.stub, s))[-1]
    assert final.state == common_pb2.JOB_STATE_DONE
    bt = (await strategy.stub.GetBacktest(strategy_pb2.GetBacktestRequest(
        id=final.backtest_id), metadata=USER)).backtest
    assert bt.spec.strategy.params["slow"] == 50


@pytest.mark.parametrize(("change", "field"), [
    (lambda s: s.strategy.CopyFrom(strategy_pb2.StrategyDef(type="martingale")),
     "strategy.type"),
    (lambda s: s.strategy.params.update({"fast": 40}), "strategy.params.fast"),
    (lambda s: s.ClearField("symbols"), "symbols"),
    (lambda s: getattr(s, "from").CopyFrom(s.to), "from"),
    (lambda s: setattr(s, "interval", "7minute"), "interval"),
    (lambda s: setattr(s, "capital_paise", 0), "capital"),
    (lambda s: s.sizing.CopyFrom(strategy_pb2.Sizing(type="fixed_qty", qty=0)), "sizing.qty"),
    (lambda s: setattr(s.costs, "product", strategy_pb2.PRODUCT_NRML), "costs.product"),
])
async def test_run_backtest_when_input_bad_is_invalid_argument_and_no_job(
        strategy, module_dsn, user, change, field):
    s = spec()
    change(s)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await run_to_end(strategy.stub, s, metadata=user)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field}:"), err.value.details()
    conn = await asyncpg.connect(module_dsn)
    try:
        assert await conn.fetchval(
            "SELECT count(*) FROM strategy.backtests WHERE owner = $1", user[0][1]) == 0
    finally:
        await conn.close()


async def test_run_backtest_when_history_has_no_candles_fails_with_reason(strategy):
    final = (await run_to_end(strategy.stub, spec(symbols=("EMPTYCO",))))[-1]
    assert final.state == common_pb2.JOB_STATE_FAILED
    assert "no minute candles stored for NSE:EMPTYCO" in final.error


async def test_run_backtest_when_history_unreachable_fails_and_service_keeps_serving(
        pg_dsn, history):
    proc = StrategyProcess(pg_dsn, 1, fast_options())  # nothing listens on port 1
    await proc.start()
    try:
        final = (await run_to_end(proc.stub, spec()))[-1]
        assert final.state == common_pb2.JOB_STATE_FAILED
        assert "history" in final.error
        ok = await proc.stub.ValidateStrategy(
            strategy_pb2.ValidateStrategyRequest(strategy=ema()), metadata=USER)
        assert ok.valid
    finally:
        await proc.stop()


async def test_cancel_backtest_when_running_ends_cancelled(pg_dsn, history):
    history[0].delay_s = 0.2  # 10 batches per symbol → the job is reading candles for seconds
    proc = StrategyProcess(pg_dsn, history[1], fast_options())
    await proc.start()
    try:
        stream = proc.stub.RunBacktest(strategy_pb2.RunBacktestRequest(spec=spec()),
                                       metadata=USER, timeout=60)
        first = await stream.read()
        await wait_state(proc.stub, first.backtest_id, {common_pb2.JOB_STATE_RUNNING})
        resp = await proc.stub.CancelBacktest(
            strategy_pb2.CancelBacktestRequest(id=first.backtest_id), metadata=USER)
        assert resp.backtest.id == first.backtest_id
        rest = []
        while (msg := await stream.read()) is not grpc.aio.EOF:
            rest.append(msg)
        assert rest[-1].state == common_pb2.JOB_STATE_CANCELLED
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await proc.stub.GetBacktestResults(
                strategy_pb2.GetBacktestResultsRequest(id=first.backtest_id), metadata=USER)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        await proc.stop()


async def test_run_backtest_when_client_leaves_job_still_finishes(strategy):
    stream = strategy.stub.RunBacktest(strategy_pb2.RunBacktestRequest(spec=spec()),
                                       metadata=USER, timeout=60)
    first = await stream.read()
    stream.cancel()
    bt = await wait_state(strategy.stub, first.backtest_id, {common_pb2.JOB_STATE_DONE,
                                                             common_pb2.JOB_STATE_FAILED})
    assert bt.state == common_pb2.JOB_STATE_DONE and bt.summary.final_equity_paise > 0


async def test_backtest_when_service_restarts_mid_run_resumes_and_finishes(pg_dsn, history):
    history[0].delay_s = 0.15
    proc = StrategyProcess(pg_dsn, history[1], fast_options())
    await proc.start()
    stream = proc.stub.RunBacktest(strategy_pb2.RunBacktestRequest(spec=spec()),
                                   metadata=USER, timeout=60)
    first = await stream.read()
    await wait_state(proc.stub, first.backtest_id, {common_pb2.JOB_STATE_RUNNING})
    assert await proc.stop() == 0  # graceful: the job goes back to the queue
    history[0].delay_s = 0.0

    again = StrategyProcess(pg_dsn, history[1], fast_options())
    await again.start()
    try:
        bt = await wait_state(again.stub, first.backtest_id,
                              {common_pb2.JOB_STATE_DONE, common_pb2.JOB_STATE_FAILED})
        assert bt.state == common_pb2.JOB_STATE_DONE, bt.error
        res = await again.stub.GetBacktestResults(
            strategy_pb2.GetBacktestResultsRequest(id=first.backtest_id), metadata=USER)
        assert res.metrics.trades == len(res.trades)
        # Resumed = uninterrupted: trade for trade and metric for metric (a resume that
        # dropped or repeated batches, or booked trades twice, differs).
        assert_same_backtest(res, local_run(["NSE:INFY"], JAN, MAR, "ema_crossover",
                                            {"fast": 10, "slow": 30}))
    finally:
        await again.stop()


async def test_get_backtest_when_other_user_is_not_found(strategy):
    final = (await run_to_end(strategy.stub, spec()))[-1]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await strategy.stub.GetBacktest(strategy_pb2.GetBacktestRequest(id=final.backtest_id),
                                        metadata=(("mandi-user", "mallory"),))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


GOLDEN = {"rules": [
    {"id": "golden", "action": "buy", "priority": 10,
     "when": {"left": {"indicator": "ema", "params": {"period": 10}}, "op": "crosses_above",
              "right": {"indicator": "ema", "params": {"period": 30}}}},
    {"id": "death", "action": "exit",
     "when": {"left": {"indicator": "ema", "params": {"period": 10}}, "op": "crosses_below",
              "right": {"indicator": "ema", "params": {"period": 30}}}},
]}


def legs(trades) -> list[tuple]:
    """What was traded, when and at what price (not why: exit reasons name the rule)."""
    return sorted((t.symbol, t.side, t.quantity, t.entry_ts.ToMilliseconds(),
                   t.entry_price_paise, t.exit_ts.ToMilliseconds(), t.exit_price_paise)
                  for t in trades)


async def test_run_backtest_when_rule_builder_strategy_trades_like_its_rules(strategy):
    rules = strategy_pb2.StrategyDef(type="rules", rules=struct(GOLDEN))
    final = (await run_to_end(strategy.stub, spec(rules)))[-1]
    assert final.state == common_pb2.JOB_STATE_DONE, final.error
    res = await strategy.stub.GetBacktestResults(
        strategy_pb2.GetBacktestResultsRequest(id=final.backtest_id), metadata=USER)
    assert res.metrics.trades > 0
    assert {t.exit_reason for t in res.trades} <= {"rule:death", "squareoff", "end"}
    stored = res.backtest.spec.strategy
    assert stored.rules["rules"][0]["priority"] == 10
    # The rules spell EMA(10) x EMA(30): through the service they trade exactly like the
    # built-in ema_crossover(10, 30) over the same spec …
    builtin = (await run_to_end(strategy.stub, spec(ema(10, 30))))[-1]
    assert builtin.state == common_pb2.JOB_STATE_DONE, builtin.error
    twin = await strategy.stub.GetBacktestResults(
        strategy_pb2.GetBacktestResultsRequest(id=builtin.backtest_id), metadata=USER)
    assert legs(res.trades) == legs(twin.trades)
    assert res.metrics.net_pnl_paise == twin.metrics.net_pnl_paise
    # … and exactly like the core engine running the same document here.
    assert_same_backtest(res, local_run(["NSE:INFY"], JAN, MAR, "rules", {"rules": GOLDEN}))


async def test_create_strategy_when_rule_json_malformed_names_rule_path(strategy):
    bad = json.loads(json.dumps(GOLDEN))
    bad["rules"][1]["when"]["op"] = "crosses_sideways"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await strategy.stub.CreateStrategy(strategy_pb2.CreateStrategyRequest(
            strategy=strategy_pb2.StrategyDef(name="r", type="rules", rules=struct(bad))),
            metadata=USER)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("rules[1].when.op:")


async def test_run_backtest_when_momentum_ladder_opens_legs(strategy):
    ladder = strategy_pb2.StrategyDef(type="momentum_ladder", params=struct({"fast": 5,
                                                                              "slow": 20}))
    final = (await run_to_end(strategy.stub, spec(ladder)))[-1]
    assert final.state == common_pb2.JOB_STATE_DONE, final.error
    res = await strategy.stub.GetBacktestResults(
        strategy_pb2.GetBacktestResultsRequest(id=final.backtest_id), metadata=USER)
    assert res.metrics.trades == len(res.trades) > 0
    # Recomputed with TA-Lib/numpy: each ladder opens (P1) on the bar after a golden cross of
    # EMA(5)/EMA(20), at that bar's open, while flat; every such cross while flat opens one;
    # "signal" exits follow a death cross; later legs (P2, P3) open while P1 is still open.
    bars = served_bars("NSE:INFY", JAN, MAR)
    golden, death = ema_crosses(bars.close, 5, 20)
    trades = sorted(res.trades, key=lambda t: (t.entry_ts.ToMilliseconds(),
                                               t.exit_ts.ToMilliseconds()))
    assert {t.side for t in trades} == {"LONG"}
    starts, last_exit = [], -1
    for t in trades:
        if t.entry_ts.ToMilliseconds() > last_exit:
            starts.append(t)
        last_exit = max(last_exit, t.exit_ts.ToMilliseconds())
    assert len(trades) > len(starts) > 0  # some ladders grew a second leg
    entry = bar_index(bars, [t.entry_ts.ToMilliseconds() for t in starts])
    assert golden[entry - 1].all()
    assert [t.entry_price_paise for t in starts] == open_paise(bars, entry)
    flat_crosses = [d for d in np.nonzero(golden & can_enter_after(bars))[0]
                    if not open_at(trades, int(bars.ts[d] // 1_000_000))]
    assert sorted(entry - 1) == flat_crosses
    on_signal = [t for t in trades if t.exit_reason == "signal"]
    assert on_signal, "no ladder closed on a reverse cross: the check below would be vacuous"
    assert death[bar_index(bars, [t.exit_ts.ToMilliseconds() for t in on_signal]) - 1].all()
    assert {t.exit_reason for t in trades} <= {"signal", "stop", "target", "squareoff", "end"}
    assert_same_backtest(res, local_run(["NSE:INFY"], JAN, MAR, "momentum_ladder",
                                        {"fast": 5, "slow": 20}))


async def test_list_strategies_when_non_admin_names_other_owner_is_permission_denied(strategy):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await strategy.stub.ListStrategies(strategy_pb2.ListStrategiesRequest(owner="root"),
                                           metadata=USER)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    mine = (await strategy.stub.CreateStrategy(strategy_pb2.CreateStrategyRequest(
        strategy=ema(name="asha's")), metadata=USER)).strategy  # so the list is never empty
    ok = await strategy.stub.ListStrategies(strategy_pb2.ListStrategiesRequest(owner="asha"),
                                            metadata=ADMIN)
    assert mine.id in {s.id for s in ok.strategies}
    assert [s.owner for s in ok.strategies] == ["asha"] * len(ok.strategies)
