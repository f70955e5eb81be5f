"""`/ws/jobs/{job_id}` (a history fetch job, seed 001's real-time progress) and
`/ws/backtest/{backtest_id}` (a backtest run's progress with its results so far — `partial`:
equity, trades, net P&L, the curve and the newest trades — and its summary once done; or, for
the id `POST /api/v1/optimize` answered, the optimisation's progress and ranking so far as
`GET /api/v1/optimize/{id}`). Every message's data has `kind`: backtest or optimization.

Neither service streams a job to a late watcher, so the gateway polls one per job per process
(poll_feed.py, every 0.5 s) and publishes a `progress` message whenever the state changed;
the last one has a final `state` / `status` (done, failed, cancelled). Snapshot = the same
record as `GET /api/data/jobs/{job_id}` / `GET /api/v1/backtest/{backtest_id}`. A backtest is
read with the caller's own principal, so another user's run is refused (4404) as in REST.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
from fastapi import WebSocket

from mandi.core.errors import InvalidInput
from mandi.v1 import history_pb2, strategy_pb2
from services.gateway.auth.principal import Principal
from services.gateway.routers.data import job_json
from services.gateway.routers.optimize import optimization_json
from services.gateway.routers.strategy import backtest_json
from services.gateway.ws.channels import Channel
from services.gateway.ws.hub import RESYNC
from services.gateway.ws.poll_feed import PollFeed
from services.gateway.ws.topic import Topic

POLL_S = 0.5
FINAL = frozenset({"done", "failed", "cancelled"})


def _path_id(ws: WebSocket, name: str) -> str:
    value = str(ws.path_params.get(name, ""))
    if not value or len(value) > 64:
        raise InvalidInput(f"{name} must be 1-64 characters", field=name)
    return value


# --- history fetch jobs -------------------------------------------------------------------------
async def _read_job(app: Any, job_id: str) -> dict[str, Any]:
    job = (await app.state.backends.history.GetJob(history_pb2.GetJobRequest(job_id=job_id))).job
    return job_json(job)


async def job_of(ws: WebSocket, _who: Principal, app: Any) -> str:
    job_id = _path_id(ws, "job_id")
    await _read_job(app, job_id)  # NOT_FOUND: 4404
    return job_id


def _job_feed(app: Any, job_id: str, _who: Principal) -> PollFeed:
    return PollFeed(lambda: _read_job(app, job_id), POLL_S, lambda j: j["state"] in FINAL)


async def job_snapshot(app: Any, job_id: str, _who: Principal) -> dict[str, Any]:
    return await _read_job(app, job_id)


# --- backtests and optimisations ---------------------------------------------------------------
# One channel for both (an optimisation is a job of the backtest queue; POST /api/v1/optimize
# points here). The topic key is "<kind>:<id>"; the caller's own principal reads it, so another
# user's run or optimisation is 4404.
BACKTEST_KIND, OPTIMIZATION_KIND = "backtest", "optimization"


async def _read_run(app: Any, key: str, who: Principal) -> dict[str, Any]:
    kind, _, run_id = key.partition(":")
    stub, md = app.state.backends.strategy, who.metadata()
    if kind == OPTIMIZATION_KIND:
        r = await stub.GetOptimization(strategy_pb2.GetOptimizationRequest(id=run_id),
                                       metadata=md)
        data = optimization_json(r)
        data.pop("success", None)
    else:
        resp = await stub.GetBacktest(strategy_pb2.GetBacktestRequest(id=run_id), metadata=md)
        data = backtest_json(resp.backtest)
    return {"kind": kind, **data}


async def backtest_of(ws: WebSocket, who: Principal, app: Any) -> str:
    run_id = _path_id(ws, "backtest_id")
    try:  # the caller's own (or an admin): else 4404
        await _read_run(app, f"{BACKTEST_KIND}:{run_id}", who)
        return f"{BACKTEST_KIND}:{run_id}"
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
    await _read_run(app, f"{OPTIMIZATION_KIND}:{run_id}", who)
    return f"{OPTIMIZATION_KIND}:{run_id}"


def _backtest_feed(app: Any, key: str, who: Principal) -> PollFeed:
    return PollFeed(lambda: _read_run(app, key, who), POLL_S, lambda b: b["status"] in FINAL)


async def backtest_snapshot(app: Any, key: str, who: Principal) -> dict[str, Any]:
    return await _read_run(app, key, who)


def _progress(topic: Topic, _work: set[asyncio.Task[Any]], _app: Any, _who: Principal
              ) -> Callable[[Any], None]:
    last: Any = None

    def on_event(state: Any) -> None:
        nonlocal last
        if state is RESYNC or state == last:
            return
        last = state
        topic.publish("progress", state)
    return on_event


JOBS = Channel("jobs", "job_poll", job_of, _job_feed, job_snapshot, _progress)
BACKTEST = Channel("backtest", "backtest_poll", backtest_of, _backtest_feed, backtest_snapshot,
                   _progress)
