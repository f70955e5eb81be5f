"""Parameter optimisation for the Optimize RPC: a grid search (or walk-forward analysis) over one
symbol's candles, with the library's evaluator doing every run.

By default it streams while the client listens and stops when the client leaves; with
`as_job` the request is checked (`plan`), queued as a job of the backtest queue (kind
'optimize') and run by its worker (jobs.py), its ranking saved as it goes. Runs happen on a
worker thread, one combination at a time — the library's process pool forks, which a gRPC
server process must not do — so the service keeps answering.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2

from mandi.core.backtest import optimize as core
from mandi.core.backtest.metrics import Metrics as CoreMetrics
from mandi.core.errors import InvalidInput
from mandi.core.strategies.base import Param
from mandi.platform.protoconv import from_timestamp
from mandi.v1 import history_pb2_grpc, strategy_pb2
from services.strategy import definitions, library
from services.strategy.candles import load_bars

MAX_COMBINATIONS = 5_000
MAX_VALUES = 1_000
PROGRESS_EVERY = 10
TOP = 10


def value_lists(ranges: list[strategy_pb2.ParamRange], known: Mapping[str, Param]
                ) -> dict[str, list[float]]:
    """Each range's values, each checked against its parameter's type and bounds (a value no
    run could take is refused now, not skipped by every run)."""
    out: dict[str, list[float]] = {}
    for i, r in enumerate(ranges):
        field = f"ranges[{i}]"
        if r.name not in known:
            raise InvalidInput(f"unknown parameter {r.name!r}; known: {sorted(known)}",
                               field=f"{field}.name")
        if r.name in out:
            raise InvalidInput(f"{r.name} has two ranges", field=f"{field}.name")
        if r.values:
            values = list(r.values)
        else:
            if not (r.step > 0 and r.stop >= r.start):
                raise InvalidInput("needs start <= stop and step > 0, or explicit values",
                                   field=f"{field}.step")
            steps = (r.stop - r.start) / r.step
            if not math.isfinite(steps) or steps + 1 > MAX_VALUES + 1e-9:
                raise InvalidInput(f"more than {MAX_VALUES} values", field=f"{field}.step")
            count = math.floor(steps + 1e-9) + 1
            values = [round(r.start + k * r.step, 10) for k in range(count)]
        for v in values:
            try:
                known[r.name].coerce(v)
            except InvalidInput as exc:
                raise InvalidInput(f"{r.name} value {v!r}: {exc.message}",
                                   field=f"{field}.values") from None
        out[r.name] = [int(v) if float(v).is_integer() else v for v in values]
    if not out:
        raise InvalidInput("at least one parameter range is required", field="ranges")
    total = math.prod(len(v) for v in out.values())
    if total > MAX_COMBINATIONS:
        raise InvalidInput(f"{total} combinations; at most {MAX_COMBINATIONS}", field="ranges")
    return out


def _params_struct(params: dict[str, Any], searched: set[str]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update({k: v for k, v in params.items() if k in searched})
    return s


def _result(params: dict[str, Any], m: CoreMetrics, searched: set[str],
            oos: CoreMetrics | None = None) -> strategy_pb2.OptimizeResult:
    out = strategy_pb2.OptimizeResult(params=_params_struct(params, searched),
                                      metrics=strategy_pb2.Metrics(**library.metrics_fields(m)))
    if oos is not None:
        out.out_of_sample.CopyFrom(strategy_pb2.Metrics(**library.metrics_fields(oos)))
    return out


def _score(m: CoreMetrics, objective: str) -> float:
    v = getattr(m, objective)
    if objective == "max_drawdown":
        v = -v
    return float(v) if isinstance(v, int | float) and not math.isnan(v) else -math.inf


@dataclass
class Plan:
    """A checked request: everything but the bars, so a job is refused before it exists."""

    spec: strategy_pb2.BacktestSpec
    type_name: str
    grid_values: dict[str, list[float]]
    objective: str
    splits: int
    fraction: float
    base: dict[str, Any]
    cfg: Any

    @property
    def searched(self) -> set[str]:
        return set(self.grid_values)

    @property
    def total(self) -> int:
        return self.splits or math.prod(len(v) for v in self.grid_values.values())


def plan(request: strategy_pb2.OptimizeRequest, spec: strategy_pb2.BacktestSpec) -> Plan:
    """`spec` has been through prepare_spec (valid, strategy inlined)."""
    rec = definitions.from_proto(spec.strategy)
    if rec.type == definitions.CUSTOM:
        raise InvalidInput("optimisation runs registered strategy types, not custom code",
                           field="spec.strategy.type")
    if len(spec.symbols) != 1:
        raise InvalidInput("optimise one symbol at a time", field="spec.symbols")
    type_name = library.canonical_type(rec.type)
    known = {p.name: p for p in library.strategy_class(type_name).params_spec
             if p.name != "rules"}
    grid_values = value_lists(list(request.ranges), known)
    objective = request.objective or "sharpe"
    if objective not in CoreMetrics.__dataclass_fields__:
        raise InvalidInput(f"unknown objective {objective!r}", field="objective")
    splits = request.walk_forward_splits
    if splits < 0 or splits > 50:
        raise InvalidInput("walk_forward_splits must be 0..50", field="walk_forward_splits")
    fraction = request.in_sample_fraction or 0.7
    if not 0.1 <= fraction < 1:
        raise InvalidInput("in_sample_fraction must be in [0.1, 1)", field="in_sample_fraction")
    return Plan(spec=spec, type_name=type_name, grid_values=grid_values, objective=objective,
                splits=splits, fraction=fraction,
                base=library.engine_params(rec.type, rec.params, rec.rules),
                cfg=library.config_of(spec))


async def run(request: strategy_pb2.OptimizeRequest, spec: strategy_pb2.BacktestSpec,
              history: history_pb2_grpc.HistoryServiceStub
              ) -> AsyncIterator[strategy_pb2.OptimizeProgress]:
    """`spec` has been through prepare_spec (valid, strategy inlined)."""
    async for progress in execute(plan(request, spec), history):
        yield progress


async def execute(checked: Plan, history: history_pb2_grpc.HistoryServiceStub
                  ) -> AsyncIterator[strategy_pb2.OptimizeProgress]:
    c = checked
    spec, type_name, grid_values, searched = c.spec, c.type_name, c.grid_values, c.searched
    objective, splits, fraction, base, cfg = c.objective, c.splits, c.fraction, c.base, c.cfg
    bars = await load_bars(history, spec.symbols[0], spec.interval,
                           from_timestamp(getattr(spec, "from")), from_timestamp(spec.to))
    combos = [{**base, **q} for q in core.grid(grid_values)]

    if splits:
        oos_len = int(len(bars) * (1 - fraction) / splits)
        in_len = len(bars) - splits * oos_len
        yield strategy_pb2.OptimizeProgress(done=0, total=splits)
        report = await asyncio.to_thread(core.walk_forward, bars, type_name, grid_values,
                                         in_len, oos_len, cfg, objective, 1)
        best = [_result({**base, **w.best_params}, w.oos_metrics, searched, w.oos_metrics)
                for w in report.windows]
        yield strategy_pb2.OptimizeProgress(done=splits, total=splits, best=best, finished=True)
        return

    scored: list[tuple[float, dict[str, Any], CoreMetrics]] = []
    pre = None

    def batch(chunk: list[dict[str, Any]]) -> list[tuple[dict[str, Any], CoreMetrics | None]]:
        nonlocal pre
        out = []
        for params in chunk:
            try:
                out.append((params, core.evaluate(bars, type_name, params, cfg, 0, pre)))
            except InvalidInput:  # e.g. fast >= slow in this corner of the grid: skipped
                out.append((params, None))
        return out

    if issubclass(library.strategy_class(type_name), core.SignalStrategy):
        pre = core.bar_arrays(bars, cfg)
    total = len(combos)
    for lo in range(0, total, PROGRESS_EVERY):
        for params, m in await asyncio.to_thread(batch, combos[lo:lo + PROGRESS_EVERY]):
            if m is not None:
                scored.append((_score(m, objective), params, m))
        scored.sort(key=lambda t: t[0], reverse=True)
        done = min(lo + PROGRESS_EVERY, total)
        yield strategy_pb2.OptimizeProgress(
            done=done, total=total, finished=done == total,
            best=[_result(p, m, searched) for _, p, m in scored[:TOP]])
    if not scored:
        raise InvalidInput("no valid parameter combination in the ranges", field="ranges")

