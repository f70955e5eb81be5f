"""Backtest history, deletion, and optimisation jobs (ListBacktests, DeleteBacktest, Optimize with
`as_job`, GetOptimization), mixed into StrategyServicer beside the run/get/cancel RPCs of
server.py.

Every call is scoped to the verified caller: a run of someone else is "not found" unless the
caller is an admin (server.py `_own_backtest`). An optimisation job is a row of the backtest
queue with kind 'optimize'; the backtest RPCs do not see it and GetOptimization sees only it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mandi.core.errors import InvalidInput, MandiError
from mandi.platform.protoconv import to_timestamp
from mandi.v1 import common_pb2, strategy_pb2
from services.strategy import optimize
from services.strategy.candles import symbol_name
from services.strategy.jobs import prepare_spec
from services.strategy.store import HistoryFilter, parse_page_token

DEFAULT_PAGE = 50
MAX_PAGE = 500
STATE_NAMES = {common_pb2.JOB_STATE_QUEUED: "queued", common_pb2.JOB_STATE_RUNNING: "running",
               common_pb2.JOB_STATE_DONE: "done", common_pb2.JOB_STATE_FAILED: "failed",
               common_pb2.JOB_STATE_CANCELLED: "cancelled"}


def data_source_proto(src: dict[str, Any]) -> strategy_pb2.DataSource:
    def ts(text: str) -> Any:
        return to_timestamp(datetime.fromisoformat(text))

    msg = strategy_pb2.DataSource(service=src["service"], table=src["table"],
                                  interval=src["interval"], bars=src["bars"])
    getattr(msg, "from").CopyFrom(ts(src["from"]))
    msg.to.CopyFrom(ts(src["to"]))
    for s in src["symbols"]:
        item = msg.symbols.add(symbol=s["symbol"], bars=s["bars"])
        item.first_ts.CopyFrom(ts(s["first_ts"]))
        item.last_ts.CopyFrom(ts(s["last_ts"]))
    return msg


class BacktestHistoryApi:
    """Mixed into StrategyServicer, which provides `backtests`, `strategies`, `runner`,
    `options` and `_own_backtest`."""

    async def ListBacktests(self, request: Any, context: Any) -> Any:
        from services.strategy.server import backtest_proto, caller
        who = caller(context, request.owner)
        size = request.page.page_size or DEFAULT_PAGE
        if not 0 < size <= MAX_PAGE:
            raise InvalidInput(f"page_size must be 1..{MAX_PAGE}", field="page.page_size")
        after = parse_page_token(request.page.page_token) if request.page.page_token else None
        if request.state and request.state not in STATE_NAMES:
            raise InvalidInput(f"unknown state {request.state}", field="state")
        symbol = request.symbol.strip().upper()
        for name, value in (("symbol", symbol), ("strategy", request.strategy)):
            if "\x00" in value:
                raise InvalidInput("must not contain NUL", field=name)
        if symbol and ":" not in symbol:
            raise InvalidInput(f"symbol {request.symbol!r} must be EXCHANGE:SYMBOL",
                               field="symbol")
        flt = HistoryFilter(state=STATE_NAMES.get(request.state, ""),
                            strategy=request.strategy.strip(), symbol=symbol)
        rows, total, nxt = await self.backtests.history(  # type: ignore[attr-defined]
            who.user, flt, limit=size, after=after)
        return strategy_pb2.ListBacktestsResponse(
            backtests=[backtest_proto(r) for r in rows],
            page=common_pb2.PageResponse(next_page_token=nxt, total=total))

    async def DeleteBacktest(self, request: Any, context: Any) -> Any:
        from services.strategy.server import backtest_proto
        kind = "optimize" if request.optimization else "backtest"
        await self._own_backtest(request.id, context, kind=kind)  # type: ignore[attr-defined]
        action, row = await self.backtests.delete_or_cancel(  # type: ignore[attr-defined]
            request.id)
        return strategy_pb2.DeleteBacktestResponse(backtest=backtest_proto(row), action=action)

    async def submit_optimization(self, request: Any, who: Any
                                  ) -> strategy_pb2.OptimizeProgress:
        """Check an `as_job` request fully (bad input is refused now, no job is made), then
        queue it with its spec made self-contained."""
        try:
            spec = await prepare_spec(request.spec, owner=who.user, admin=who.admin,
                                      strategies=self.strategies,  # type: ignore[attr-defined]
                                      sandbox_limits=self.options.validate_sandbox)  # type: ignore[attr-defined]
        except MandiError as exc:
            exc.field = f"spec.{exc.field}" if exc.field else "spec"
            raise
        checked = optimize.plan(request, spec)
        job = strategy_pb2.OptimizeRequest()
        job.CopyFrom(request)
        job.spec.CopyFrom(spec)
        job.objective = checked.objective
        row = await self.backtests.create(  # type: ignore[attr-defined]
            who.user, who.admin, job.SerializeToString(), kind="optimize",
            strategy_type=spec.strategy.type, strategy_name=spec.strategy.name,
            symbols=[symbol_name(s) for s in spec.symbols])
        self.runner.wake()  # type: ignore[attr-defined]
        return strategy_pb2.OptimizeProgress(job_id=row.id, total=checked.total)

    async def GetOptimization(self, request: Any, context: Any) -> Any:
        from services.strategy.server import JOB_STATE
        row = await self._own_backtest(request.id, context,  # type: ignore[attr-defined]
                                       kind="optimize")
        job = strategy_pb2.OptimizeRequest.FromString(row.spec)
        out = strategy_pb2.GetOptimizationResponse(
            id=row.id, state=JOB_STATE[row.state], progress=row.progress, error=row.error,
            objective=job.objective, request=job)
        if row.partial:
            out.result.ParseFromString(row.partial)
        out.created_at.CopyFrom(to_timestamp(row.created_at))
        if row.finished_at is not None:
            out.finished_at.CopyFrom(to_timestamp(row.finished_at))
        return out
