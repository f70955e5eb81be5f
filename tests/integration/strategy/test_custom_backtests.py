"""Custom Python strategies through the service: admin-only, run in the sandbox, and a runaway
script fails its job with the reason while the service keeps serving."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from mandi.v1 import common_pb2, strategy_pb2
from tests.integration.strategy.reference import served_bars
from tests.integration.strategy.signals import bar_index, can_enter_after, open_paise
from tests.integration.strategy.test_strategy_grpc import (
    ADMIN,
    JAN,
    MAR,
    USER,
    ema,
    run_to_end,
    spec,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

MOMENTUM = """
class Strategy:
    def __init__(self, params):
        self.lookback = int(params.get("lookback", 20))

    def on_bar(self, bar, ctx):
        if len(ctx.close) <= self.lookback:
            return None
        return 1 if ctx.close[-1] > ctx.close[-1 - self.lookback] else 0
"""

LOOP_IN_ON_BAR = """
class Strategy:
    def on_bar(self, bar, ctx):
        while True:
            pass
"""

ALLOCATE_IN_ON_BAR = """
class Strategy:
    def on_bar(self, bar, ctx):
        x = bytearray(10**10)
        return 1
"""


def custom(code: str, **params) -> strategy_pb2.StrategyDef:
    d = strategy_pb2.StrategyDef(type="custom", code=code)
    d.params.update(params)
    return d


async def test_run_backtest_when_custom_code_from_admin_trades_its_targets(strategy):
    final = (await run_to_end(strategy.stub, spec(custom(MOMENTUM, lookback=30)),
                              metadata=ADMIN))[-1]
    assert final.state == common_pb2.JOB_STATE_DONE, final.error
    res = await strategy.stub.GetBacktestResults(
        strategy_pb2.GetBacktestResultsRequest(id=final.backtest_id), metadata=ADMIN)
    assert res.metrics.trades > 0
    assert {t.side for t in res.trades} == {"LONG"}  # the script never asks for -1
    # The script's targets recomputed with numpy: long while close > the close 30 bars back.
    bars = served_bars("NSE:INFY", JAN, MAR)
    want = np.zeros(len(bars), dtype=bool)
    want[30:] = bars.close[30:] > bars.close[:-30]
    trades = sorted(res.trades, key=lambda t: t.entry_ts.ToMilliseconds())
    entry = bar_index(bars, [t.entry_ts.ToMilliseconds() for t in trades])
    leave = bar_index(bars, [t.exit_ts.ToMilliseconds() for t in trades])
    # Each trade was decided on a bar that wanted long and fills at the next bar's open …
    assert want[entry - 1].all()
    assert [t.entry_price_paise for t in trades] == open_paise(bars, entry)
    # … and holds while the script wants long: a "signal" exit fills on the bar after the
    # first bar that wanted flat; square-offs and the end of data may cut a trade earlier.
    for t, i, j in zip(trades, entry, leave, strict=True):
        assert want[i - 1:j - 1].all(), t
        if t.exit_reason == "signal":
            assert not want[j - 1]
            assert t.exit_price_paise == open_paise(bars, np.array([j]))[0]
        else:
            assert t.exit_reason in ("squareoff", "end"), t.exit_reason
    # Every flat-to-long turn of the targets that can still fill that day opens a trade.
    turns = np.nonzero(want[1:] & ~want[:-1])[0] + 1
    turns = turns[can_enter_after(bars)[turns]]
    assert len(turns) > 10
    assert set((turns + 1).tolist()) <= set(entry.tolist())


async def test_run_backtest_when_custom_code_from_non_admin_is_permission_denied(strategy):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await run_to_end(strategy.stub, spec(custom(MOMENTUM)), metadata=USER)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_run_backtest_when_custom_code_loops_forever_fails_and_service_serves(strategy):
    final = (await run_to_end(strategy.stub, spec(custom(LOOP_IN_ON_BAR)), metadata=ADMIN))[-1]
    assert final.state == common_pb2.JOB_STATE_FAILED
    assert "CPU time limit" in final.error or "timed out" in final.error
    after = (await run_to_end(strategy.stub, spec(ema())))[-1]
    assert after.state == common_pb2.JOB_STATE_DONE


async def test_run_backtest_when_custom_code_allocates_10gb_fails_with_memory_limit(strategy):
    final = (await run_to_end(strategy.stub, spec(custom(ALLOCATE_IN_ON_BAR)),
                              metadata=ADMIN))[-1]
    assert final.state == common_pb2.JOB_STATE_FAILED
    assert "memory limit" in final.error
    ok = await strategy.stub.ValidateStrategy(
        strategy_pb2.ValidateStrategyRequest(strategy=ema()), metadata=USER)
    assert ok.valid


async def test_run_backtest_when_custom_code_loops_at_import_is_rejected_up_front(strategy):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await run_to_end(strategy.stub, spec(custom("while True:\n    pass\n")),
                         metadata=ADMIN)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("strategy.code:")
    assert "CPU time limit" in err.value.details() or "timed out" in err.value.details()


async def test_validate_strategy_when_custom_code_has_syntax_error_names_line(strategy):
    resp = await strategy.stub.ValidateStrategy(strategy_pb2.ValidateStrategyRequest(
        strategy=custom("class Strategy:\n    def on_bar(self, bar, ctx)\n")), metadata=ADMIN)
    assert not resp.valid
    assert resp.errors[0].field == "code" and "line 2" in resp.errors[0].message
