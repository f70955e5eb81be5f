"""Bots over real gRPC against real PostgreSQL: deploy with the backtest's checks (errors name
the field), the status machine start → pause → stop with audit rows, owner scoping, delete, and
StreamBotState following a change. The runner is not exercised here (no marketdata): the e2e
test runs bots on a replayed day."""

from __future__ import annotations

import asyncio

import asyncpg
import grpc
import pytest
from google.protobuf import struct_pb2

from mandi.platform.notify_events import decode, stream_key
from mandi.platform.redis import create_redis
from mandi.v1 import common_pb2, strategy_pb2

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def deploy_req(**kw) -> strategy_pb2.DeployRequest:
    params = struct_pb2.Struct()
    params.update({"fast": 5, "slow": 20})
    spec = strategy_pb2.BacktestSpec(
        strategy=strategy_pb2.StrategyDef(type="ema_crossover", params=params),
        symbols=[common_pb2.SymbolRef(exchange=common_pb2.EXCHANGE_NSE, tradingsymbol="infy")],
        interval="minute", sizing=strategy_pb2.Sizing(type="fixed_qty", qty=5))
    base = dict(spec=spec, account_id="PAPER1", mode=strategy_pb2.RUN_MODE_PAPER, name="ema")
    base.update(kw)
    return strategy_pb2.DeployRequest(**base)


async def _invalid(call, field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    md = dict(err.value.trailing_metadata() or ())
    assert md.get("mandi-error-field") == field, (err.value.details(), md)


async def test_deploy_when_valid_creates_a_bot_with_the_checked_spec(strategy, user):
    resp = await strategy.stub.Deploy(deploy_req(), metadata=user)
    st = resp.state
    assert st.status == strategy_pb2.BOT_STATUS_CREATED and not st.running
    assert st.deployment_id.startswith("b") and len(st.deployment_id) == 16
    assert st.spec.symbols[0].tradingsymbol == "INFY"  # normalised like a backtest's
    assert st.spec.strategy.type == "ema_crossover" and st.spec.capital_paise > 0
    assert st.spec.costs.product == strategy_pb2.PRODUCT_MIS
    listed = (await strategy.stub.ListBots(strategy_pb2.ListBotsRequest(), metadata=user)).bots
    assert [b.deployment_id for b in listed] == [st.deployment_id]
    other = (("mandi-user", "someone-else"),)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await strategy.stub.GetBot(strategy_pb2.GetBotRequest(deployment_id=st.deployment_id),
                                   metadata=other)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_deploy_when_input_is_bad_names_the_field(strategy, user):
    stub = strategy.stub
    await _invalid(stub.Deploy(deploy_req(account_id=" "), metadata=user), "account_id")
    await _invalid(stub.Deploy(deploy_req(mode=strategy_pb2.RUN_MODE_UNSPECIFIED),
                               metadata=user), "mode")
    await _invalid(stub.Deploy(deploy_req(sizing=strategy_pb2.Sizing(type="kelly", pct=10)),
                               metadata=user), "sizing.type")
    await _invalid(stub.Deploy(deploy_req(sizing=strategy_pb2.Sizing(type="pct_equity", pct=0)),
                               metadata=user), "sizing.pct")
    await _invalid(stub.Deploy(deploy_req(interval="fortnight"), metadata=user), "interval")
    await _invalid(stub.Deploy(deploy_req(interval="day"), metadata=user), "interval")
    bad = deploy_req()
    bad.spec.strategy.params.update({"fast": 30})
    await _invalid(stub.Deploy(bad, metadata=user), "strategy.params.fast")
    assert not (await stub.ListBots(strategy_pb2.ListBotsRequest(), metadata=user)).bots


async def test_deploy_takes_the_ladder_with_stops_and_every_sizer(strategy, user):
    """GTT brackets and the backtester's sizers run in bots: the ladder, a strategy with a
    stop and target, equity-percent sizing all deploy."""
    stub = strategy.stub
    ladder = deploy_req(sizing=strategy_pb2.Sizing(type="pct_equity", pct=10))
    ladder.spec.strategy.type = "momentum_ladder"
    ladder.spec.strategy.params.Clear()
    ladder.name = "ladder"
    stops = deploy_req(sizing=strategy_pb2.Sizing(type="atr_risk", risk_pct=1))
    stops.spec.strategy.params.update({"stop_loss_pct": 1.5, "take_profit_pct": 3.0})
    stops.name = "stops"
    for req in (ladder, stops):
        await stub.Deploy(req, metadata=user)
    got = (await stub.ListBots(strategy_pb2.ListBotsRequest(), metadata=user)).bots
    assert sorted(b.spec.strategy.type for b in got) == ["ema_crossover", "momentum_ladder"]


async def test_start_pause_stop_are_audited_and_illegal_moves_refused(strategy, user,
                                                                     module_dsn):
    stub = strategy.stub
    bot = (await stub.Deploy(deploy_req(), metadata=user)).deployment_id
    ref = strategy_pb2.StartRequest(deployment_id=bot)
    assert (await stub.Start(ref, metadata=user)).state.status == strategy_pb2.BOT_STATUS_RUNNING
    paused = await stub.Pause(strategy_pb2.PauseRequest(deployment_id=bot), metadata=user)
    assert paused.state.status == strategy_pb2.BOT_STATUS_PAUSED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.DeleteBot(strategy_pb2.DeleteBotRequest(deployment_id=bot), metadata=user)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    stopped = await stub.Stop(strategy_pb2.StopRequest(deployment_id=bot), metadata=user)
    assert stopped.state.status == strategy_pb2.BOT_STATUS_STOPPED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Pause(strategy_pb2.PauseRequest(deployment_id=bot), metadata=user)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    conn = await asyncpg.connect(module_dsn)
    try:
        rows = await conn.fetch("SELECT actor, action FROM strategy.bot_audit WHERE bot_id = $1"
                                " ORDER BY id", bot)
    finally:
        await conn.close()
    who = dict(user)["mandi-user"]
    assert [(r["actor"], r["action"]) for r in rows] == [
        (who, "create"), (who, "running"), (who, "paused"), (who, "stopped")]
    # start and stop raised notification events (pause does not); the notifier reads them
    s = strategy.settings
    redis = create_redis(s.redis_url)
    try:
        events = [decode(f) for _, f in await redis.xrange(stream_key(s.redis_prefix))]
    finally:
        await redis.aclose()
    mine = [(e["kind"], e["data"]["name"], e["data"]["account_id"]) for e in events
            if e["data"].get("bot_id") == bot]
    assert mine == [("bot_started", "ema", "PAPER1"), ("bot_stopped", "ema", "PAPER1")]
    await stub.DeleteBot(strategy_pb2.DeleteBotRequest(deployment_id=bot), metadata=user)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetBot(strategy_pb2.GetBotRequest(deployment_id=bot), metadata=user)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_stream_bot_state_follows_a_status_change(strategy, user):
    stub = strategy.stub
    bot = (await stub.Deploy(deploy_req(), metadata=user)).deployment_id
    call = stub.StreamBotState(strategy_pb2.StreamBotStateRequest(deployment_id=bot),
                               metadata=user, timeout=20)
    first = await call.read()
    assert first.status == strategy_pb2.BOT_STATUS_CREATED
    await stub.Stop(strategy_pb2.StopRequest(deployment_id=bot), metadata=user)
    second = await asyncio.wait_for(call.read(), 10)
    assert second.status == strategy_pb2.BOT_STATUS_STOPPED
    call.cancel()
