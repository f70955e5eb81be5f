"""Optimize over real gRPC: a grid search streams progress (one message per 10 combinations) and
ranks by the objective, with values the core engine reproduces; walk-
forward reports out-of-sample metrics per window; bad ranges are INVALID_ARGUMENT."""

from __future__ import annotations

import grpc
import pytest

from mandi.core.backtest.metrics import metrics_of
from mandi.v1 import strategy_pb2
from tests.integration.strategy.reference import local_run
from tests.integration.strategy.test_strategy_grpc import JAN, MAR, USER, ema, spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def ranges(**values) -> list[strategy_pb2.ParamRange]:
    return [strategy_pb2.ParamRange(name=k, values=v) for k, v in values.items()]


async def optimise(stub, **kw) -> list[strategy_pb2.OptimizeProgress]:
    return [p async for p in stub.Optimize(strategy_pb2.OptimizeRequest(**kw), metadata=USER,
                                           timeout=120)]


async def test_optimize_when_grid_given_streams_progress_and_ranks_by_objective(strategy):
    fasts, slows = [5, 10, 15, 20, 25, 30], [30, 60]
    out = await optimise(strategy.stub, spec=spec(ema()), objective="sharpe",
                         ranges=ranges(fast=fasts, slow=slows))
    # 12 combinations, reported every 10: two progress messages, the last one final.
    assert [(p.done, p.total, p.finished) for p in out] == [(10, 12, False), (12, 12, True)]
    best = out[-1].best
    assert len(best) == 10  # the top 10 of 11: fast=30, slow=30 is skipped (fast < slow)
    assert {"fast": 30.0, "slow": 30.0} not in [dict(b.params) for b in best]
    sharpes = [b.metrics.sharpe for b in best]
    assert sharpes == sorted(sharpes, reverse=True)
    assert set(best[0].params.keys()) == {"fast", "slow"}
    # The ranking's values: each combination run by the core engine here on the same bars.
    local = {(f, s): metrics_of(local_run(["NSE:INFY"], JAN, MAR, "ema_crossover",
                                          {"fast": f, "slow": s})).sharpe
             for f in fasts for s in slows if f < s}
    assert len(local) == 11
    expected = sorted(local.values(), reverse=True)[:10]
    assert sharpes == pytest.approx(expected, rel=1e-9)
    for b in best:
        assert b.metrics.sharpe == pytest.approx(
            local[(int(b.params["fast"]), int(b.params["slow"]))], rel=1e-9)


async def test_optimize_when_walk_forward_reports_out_of_sample_per_window(strategy):
    out = await optimise(strategy.stub, spec=spec(ema()), walk_forward_splits=2,
                         in_sample_fraction=0.6,
                         ranges=ranges(fast=[5, 10], slow=[30]))
    final = out[-1]
    assert final.finished and final.total == 2 and len(final.best) == 2
    assert all(r.HasField("out_of_sample") for r in final.best)


@pytest.mark.parametrize(("kw", "field"), [
    ({"ranges": ranges(fsat=[1, 2])}, "ranges[0].name"),
    ({"ranges": [strategy_pb2.ParamRange(name="fast", start=5, stop=1, step=1)]},
     "ranges[0].step"),
    ({"ranges": ranges(fast=[5]), "objective": "luck"}, "objective"),
    ({"ranges": []}, "ranges"),
])
async def test_optimize_when_request_bad_is_invalid_argument_naming_field(strategy, kw, field):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await optimise(strategy.stub, spec=spec(ema()), **kw)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field}:")


async def test_optimize_when_spec_invalid_names_spec_field(strategy):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await optimise(strategy.stub, spec=spec(ema(), symbols=()),
                       ranges=ranges(fast=[5]))
    assert err.value.details().startswith("spec.symbols:")
