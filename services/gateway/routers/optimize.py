"""`POST /api/v1/optimize` and `GET /api/v1/optimize/{id}`: parameter optimisation (grid search
or walk-forward) as a job of the strategy service's backtest queue, on the `Optimize` RPC with
`as_job`.

The request is checked in full before the job exists (unknown parameter, bad range, unknown
metric, too many combinations: 400 naming the field in this API's words, `param_grid.fast`,
`metric`); the answer is 202 `{id}`. The job's ranking is saved as it runs, so a GET shows the
best combinations so far, ranked by the chosen metric (max_drawdown: smallest first).
"""

from __future__ import annotations

import math
import re
from typing import Any

import grpc
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from google.protobuf import json_format

from mandi.core.errors import InvalidInput, MandiError
from mandi.platform.protoconv import to_timestamp
from mandi.platform.status import grpc_error_to_domain
from mandi.v1 import strategy_pb2
from services.gateway.routers.strategy import (
    JOB_STATES,
    Caller,
    Stubs,
    _range,
    _ts,
    base_spec,
    metrics_json,
)
from services.gateway.schemas.strategy import GridRange, OptimizeBody

router = APIRouter(prefix="/api/v1/optimize", tags=["optimize"])
MAX_COMBINATIONS = 5_000  # the strategy service's bound (services/strategy/optimize.py)
_RANGE_FIELD = re.compile(r"^ranges\[(\d+)\](\..*)?$")


def _count(values: list[float] | GridRange) -> int:
    if isinstance(values, GridRange):
        steps = (values.stop - values.start) / values.step
        if not math.isfinite(steps) or steps > MAX_COMBINATIONS:
            return MAX_COMBINATIONS + 1
        return max(math.floor(steps + 1e-9) + 1, 0)
    return len(values)


def param_ranges(grid: dict[str, list[float] | GridRange]) -> list[strategy_pb2.ParamRange]:
    total = math.prod(_count(v) for v in grid.values())
    if total > MAX_COMBINATIONS:
        raise InvalidInput(f"{total:,} combinations; at most {MAX_COMBINATIONS:,} — narrow the "
                           "grid", field="param_grid")
    out = []
    for name, v in grid.items():
        if isinstance(v, GridRange):
            out.append(strategy_pb2.ParamRange(name=name, start=v.start, stop=v.stop,
                                               step=v.step))
        elif not v:
            raise InvalidInput("give at least one value", field=f"param_grid.{name}")
        else:
            out.append(strategy_pb2.ParamRange(name=name, values=v))
    return out


def _our_field(field: str | None, names: list[str]) -> str | None:
    """The service's field names (`ranges[0].name`, `objective`, `spec.symbols`) in this
    API's (`param_grid.fast`, `metric`, `symbols`)."""
    if not field:
        return field
    m = _RANGE_FIELD.match(field)
    if m:
        i = int(m.group(1))
        return f"param_grid.{names[i]}" if i < len(names) else "param_grid"
    if field == "ranges":
        return "param_grid"
    if field == "objective":
        return "metric"
    if field.startswith("spec."):
        return field[len("spec."):]
    return field


@router.post("", status_code=202)
async def start_optimization(body: OptimizeBody, stubs: Stubs, md: Caller) -> JSONResponse:
    spec = base_spec(body)
    lo, hi = _range(body.from_, body.to)
    getattr(spec, "from").CopyFrom(to_timestamp(lo))
    spec.to.CopyFrom(to_timestamp(hi))
    names = list(body.param_grid)
    walk = body.method == "walk_forward"
    req = strategy_pb2.OptimizeRequest(
        spec=spec, ranges=param_ranges(body.param_grid), objective=body.metric,
        walk_forward_splits=body.walk_forward_splits if walk else 0,
        in_sample_fraction=body.in_sample_fraction, as_job=True)
    stream = stubs.strategy.Optimize(req, metadata=md, timeout=60)
    try:
        first = await stream.read()
    except grpc.aio.AioRpcError as exc:
        err: MandiError = grpc_error_to_domain(exc)
        err.field = _our_field(err.field, names)
        raise err from None
    finally:
        stream.cancel()
    if first is grpc.aio.EOF or not first.job_id:
        raise InvalidInput("the strategy service answered without a job id")
    return JSONResponse({"success": True, "id": first.job_id, "combinations": first.total},
                        status_code=202)


def _params(s: Any) -> dict[str, Any]:
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v
            for k, v in json_format.MessageToDict(s).items()}


@router.get("/{optimization_id}")
async def get_optimization(optimization_id: str, stubs: Stubs, md: Caller) -> dict[str, Any]:
    return optimization_json(await stubs.strategy.GetOptimization(
        strategy_pb2.GetOptimizationRequest(id=optimization_id), metadata=md))


def optimization_json(r: strategy_pb2.GetOptimizationResponse) -> dict[str, Any]:
    """The job and its ranking so far, as GET answers it (and `/ws/backtest/{id}` sends)."""
    walk = r.request.walk_forward_splits > 0
    rows = [{"params": _params(b.params), "metrics": metrics_json(b.metrics),
             **({"out_of_sample": metrics_json(b.out_of_sample)} if walk else {})}
            for b in r.result.best]
    out: dict[str, Any] = {
        "success": True, "id": r.id, "status": JOB_STATES.get(r.state, "unknown"),
        "progress": r.progress, "error": r.error or None, "metric": r.objective,
        "method": "walk_forward" if walk else "grid",
        "done": r.result.done, "total": r.result.total,
        "created_at": _ts(r.created_at), "finished_at": _ts(r.finished_at),
    }
    if walk:  # one row per window, in time order: its best in-sample params, out-of-sample
        out["windows"] = [{"window": i, **row} for i, row in enumerate(rows)]
    else:  # best first by the metric (the service keeps the top 10)
        out["results"] = [{"rank": i + 1, **row} for i, row in enumerate(rows)]
    return out


@router.delete("/{optimization_id}")
async def delete_optimization(optimization_id: str, stubs: Stubs, md: Caller
                              ) -> dict[str, Any]:
    """Like a backtest's DELETE: a finished job is deleted with its results (`action:
    deleted`), a queued or running one cancelled (`action: cancelled`)."""
    r = await stubs.strategy.DeleteBacktest(strategy_pb2.DeleteBacktestRequest(
        id=optimization_id, optimization=True), metadata=md)
    return {"success": True, "action": r.action, "id": r.backtest.id,
            "status": JOB_STATES.get(r.backtest.state, "unknown")}
