"""Optimize with `as_job` over real gRPC: the job is refused before it exists when the request
is bad, survives a restart of the service mid-run, and ends with the ranking the streaming
Optimize gives for the same request."""

from __future__ import annotations

import asyncio

import asyncpg
import grpc
import pytest

from mandi.v1 import common_pb2, strategy_pb2
from tests.integration.strategy.conftest import StrategyProcess, fast_options
from tests.integration.strategy.test_optimize_grpc import optimise, ranges
from tests.integration.strategy.test_strategy_grpc import USER, ema, spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

TERMINAL = {common_pb2.JOB_STATE_DONE, common_pb2.JOB_STATE_FAILED,
            common_pb2.JOB_STATE_CANCELLED}


async def wait_job(stub, job_id: str, states, timeout_s: float = 60.0):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        got = await stub.GetOptimization(strategy_pb2.GetOptimizationRequest(id=job_id),
                                         metadata=USER)
        if got.state in states:
            return got
        assert asyncio.get_running_loop().time() < deadline, f"stuck in {got.state}"
        await asyncio.sleep(0.05)


async def test_optimize_job_when_service_restarts_mid_run_finishes_with_stream_ranking(
        pg_dsn, history):
    kw = dict(spec=spec(ema()), objective="sortino", ranges=ranges(fast=[5, 10, 15],
                                                                      slow=[30, 60]))
    history[0].delay_s = 0.15
    proc = StrategyProcess(pg_dsn, history[1], fast_options())
    await proc.start()
    try:
        (first,) = await optimise(proc.stub, as_job=True, **kw)
        assert first.job_id and first.total == 6 and not first.best
        await wait_job(proc.stub, first.job_id, {common_pb2.JOB_STATE_RUNNING})
    finally:
        assert await proc.stop() == 0  # graceful: the job goes back to the queue
    history[0].delay_s = 0.0
    again = StrategyProcess(pg_dsn, history[1], fast_options())
    await again.start()
    try:
        job = await wait_job(again.stub, first.job_id, TERMINAL)
        assert job.state == common_pb2.JOB_STATE_DONE, job.error
        assert job.objective == "sortino" and job.progress == 1
        streamed = (await optimise(again.stub, **kw))[-1]
        assert job.result.finished and job.result.done == job.result.total == 6
        assert list(job.result.best) == list(streamed.best)
    finally:
        await again.stop()


async def test_optimize_job_when_request_bad_is_refused_before_a_job_exists(strategy):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await optimise(strategy.stub, as_job=True, spec=spec(ema()),
                       ranges=ranges(fast=[5.5]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("ranges[0].values:")
    conn = await asyncpg.connect(strategy.settings.pg_dsn)
    try:
        jobs = await conn.fetchval("SELECT count(*) FROM strategy.backtests")
    finally:
        await conn.close()
    assert jobs == 0
