"""gRPC surface of the strategy service: converts messages, maps errors, delegates the work.

Who is asking: the gateway authenticates users and forwards the user id and role as a signed
`mandi-principal` the platform interceptor verifies (mandi/platform/service_auth.py; unsigned
`mandi-user`/`mandi-role` metadata is refused); request `owner` fields, when set, name the user.
Custom Python code is accepted only when the verified role is admin.

Bots (Deploy/Start/Stop/Pause/ListBots/GetBot/DeleteBot/SetBotSchedule/StreamBotState) live
in bot_api.py; their logs and signals (ListBotLogs, ListSignals, StreamSignals) and external
bots' PostSignal and RotateBotKey in bot_signal_api.py.
GetParity (a bot's day against its backtest, and the nightly run) in parity_api.py/parity_run.py.
Backtest history and deletion (ListBacktests, DeleteBacktest) and optimisation jobs (Optimize with
`as_job`, GetOptimization) in backtest_api.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mandi.core.errors import (
    InvalidInput,
    MandiError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
)
from mandi.platform.config import Settings
from mandi.platform.db import create_pool
from mandi.platform.grpc_client import channel
from mandi.platform.grpc_server import ServiceSpec
from mandi.platform.migrations import ensure_database, run_migrations
from mandi.platform.notify_events import publish_event
from mandi.platform.protoconv import to_timestamp
from mandi.platform.redis import create_redis
from mandi.platform.service_auth import current_principal
from mandi.platform.simclock import SimClock, make_clock
from mandi.v1 import (
    common_pb2,
    execution_pb2_grpc,
    history_pb2_grpc,
    marketdata_pb2_grpc,
    strategy_pb2,
    strategy_pb2_grpc,
)
from services.strategy import definitions, optimize
from services.strategy.backtest_api import BacktestHistoryApi, data_source_proto
from services.strategy.bot_api import BotApi
from services.strategy.bot_runner import BotRunner
from services.strategy.bot_signal_api import BotSignalApi
from services.strategy.bot_store import BotStore
from services.strategy.candles import symbol_name
from services.strategy.jobs import BacktestRunner, prepare_spec
from services.strategy.parity_api import ParityApi
from services.strategy.parity_run import ParityRunner
from services.strategy.parity_store import ParityStore
from services.strategy.sandbox import SandboxLimits, set_max_concurrent
from services.strategy.store import (
    TERMINAL_STATES,
    BacktestRow,
    BacktestStore,
    StrategyStore,
)

log = logging.getLogger(__name__)

SERVICE_NAME = strategy_pb2.DESCRIPTOR.services_by_name["StrategyService"].full_name
MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_OWNER = "local"
DEFAULT_PAGE = 100
MAX_PAGE = 1000
PROGRESS_POLL_S = 0.2

JOB_STATE = {
    "queued": common_pb2.JOB_STATE_QUEUED,
    "running": common_pb2.JOB_STATE_RUNNING,
    "done": common_pb2.JOB_STATE_DONE,
    "failed": common_pb2.JOB_STATE_FAILED,
    "cancelled": common_pb2.JOB_STATE_CANCELLED,
}
METRIC_FIELDS = {f.name for f in strategy_pb2.Metrics.DESCRIPTOR.fields}


@dataclass
class Caller:
    user: str
    admin: bool


def caller(context: Any, owner: str = "") -> Caller:
    """The user a call acts for: the verified principal's user (`DEFAULT_OWNER` for a service
    calling for itself or an unsigned call, neither ever an admin), or `owner` when the request
    names one — which only an admin may set to someone else. `context` is unused: the principal
    is verified by the platform interceptor (mandi/platform/service_auth.py), never read from
    raw metadata."""
    who = current_principal()
    user = who.user if who.is_user else DEFAULT_OWNER
    admin = who.is_admin
    if owner and owner != user:
        if not admin:
            raise PermissionDenied("only an admin may act for another owner", field="owner")
        user = owner
    return Caller(user=user, admin=admin)


@dataclass
class StrategyOptions:
    """Knobs of the service that are not deployment settings (tests shorten them)."""

    lease_s: float = 30.0
    poll_s: float = 1.0
    workers: int = 1
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)
    validate_sandbox: SandboxLimits = field(
        default_factory=lambda: SandboxLimits(cpu_s=5, wall_s=10.0))


def default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def metrics_proto(metrics: dict[str, Any] | None) -> strategy_pb2.Metrics:
    if not metrics:
        return strategy_pb2.Metrics()
    return strategy_pb2.Metrics(**{k: v for k, v in metrics.items() if k in METRIC_FIELDS})


def backtest_proto(row: BacktestRow) -> strategy_pb2.Backtest:
    spec = (strategy_pb2.OptimizeRequest.FromString(row.spec).spec if row.kind == "optimize"
            else strategy_pb2.BacktestSpec.FromString(row.spec))
    msg = strategy_pb2.Backtest(
        id=row.id, spec=spec,
        state=JOB_STATE[row.state], progress=row.progress, error=row.error, owner=row.owner,
        summary=metrics_proto(row.metrics))
    msg.created_at.CopyFrom(to_timestamp(row.created_at))
    if row.finished_at is not None:
        msg.finished_at.CopyFrom(to_timestamp(row.finished_at))
    if row.kind == "backtest" and row.partial and row.state != "done":
        msg.partial.ParseFromString(row.partial)  # the stored results supersede it once done
    return msg


def progress_proto(row: BacktestRow) -> strategy_pb2.BacktestProgress:
    return strategy_pb2.BacktestProgress(
        backtest_id=row.id, state=JOB_STATE[row.state], progress=row.progress,
        bars_done=row.bars_done, bars_total=row.bars_total, error=row.error)


class StrategyServicer(BotApi, BotSignalApi, ParityApi, BacktestHistoryApi,
                       strategy_pb2_grpc.StrategyServiceServicer):
    def __init__(self, strategies: StrategyStore, backtests: BacktestStore,
                 runner: BacktestRunner, options: StrategyOptions,
                 bots: BotStore | None = None, bot_runner: BotRunner | None = None,
                 parity: ParityRunner | None = None) -> None:
        self.strategies = strategies
        self.backtests = backtests
        self.runner = runner
        self.options = options
        self.bots = bots if bots is not None else BotStore(None)  # type: ignore[arg-type]
        self.bot_runner = bot_runner
        self.parity = parity

    # --- definitions -----------------------------------------------------------------------
    async def ListStrategies(self, request: Any, context: Any) -> Any:
        who = caller(context, request.owner)
        size = request.page.page_size or DEFAULT_PAGE
        if not 0 < size <= MAX_PAGE:
            raise InvalidInput(f"page_size must be 1..{MAX_PAGE}", field="page.page_size")
        token = request.page.page_token
        if token and not token.isdigit():
            raise InvalidInput("malformed page_token", field="page.page_token")
        offset = int(token or 0)
        recs, total = await self.strategies.list(who.user, limit=size, offset=offset)
        nxt = str(offset + size) if offset + size < total else ""
        return strategy_pb2.ListStrategiesResponse(
            strategies=[definitions.to_proto(r) for r in recs],
            page=common_pb2.PageResponse(next_page_token=nxt, total=total))

    async def GetStrategy(self, request: Any, context: Any) -> Any:
        rec = await self.strategies.get(request.id, owner=caller(context).user)
        return strategy_pb2.GetStrategyResponse(strategy=definitions.to_proto(rec))

    async def CreateStrategy(self, request: Any, context: Any) -> Any:
        who = caller(context, request.strategy.owner)
        rec = definitions.from_proto(request.strategy)
        rec.owner = who.user
        await definitions.check(rec, admin=who.admin, require_name=True,
                                sandbox_limits=self.options.validate_sandbox)
        rec = await self.strategies.create(rec)
        return strategy_pb2.CreateStrategyResponse(strategy=definitions.to_proto(rec))

    async def UpdateStrategy(self, request: Any, context: Any) -> Any:
        who = caller(context, request.strategy.owner)
        if not request.strategy.id:
            raise InvalidInput("id is required", field="id")
        await self.strategies.get(request.strategy.id, owner=who.user)  # exists and is theirs
        rec = definitions.from_proto(request.strategy)
        rec.owner = who.user
        await definitions.check(rec, admin=who.admin, require_name=True,
                                sandbox_limits=self.options.validate_sandbox)
        rec = await self.strategies.update(rec)
        return strategy_pb2.UpdateStrategyResponse(strategy=definitions.to_proto(rec))

    async def DeleteStrategy(self, request: Any, context: Any) -> Any:
        await self.strategies.delete(request.id, owner=caller(context).user)
        return strategy_pb2.DeleteStrategyResponse()

    async def ValidateStrategy(self, request: Any, context: Any) -> Any:
        who = caller(context, request.strategy.owner)
        rec = definitions.from_proto(request.strategy)
        errors = await definitions.field_errors(rec, admin=who.admin,
                                                sandbox_limits=self.options.validate_sandbox)
        return strategy_pb2.ValidateStrategyResponse(
            valid=not errors,
            errors=[strategy_pb2.FieldError(field=f, message=m) for f, m in errors])

    async def ImportStrategy(self, request: Any, context: Any) -> Any:
        who = caller(context)
        rec = definitions.import_json(request.json, who.user)
        await definitions.check(rec, admin=who.admin, require_name=True,
                                sandbox_limits=self.options.validate_sandbox)
        rec = await self.strategies.create(rec)
        return strategy_pb2.ImportStrategyResponse(strategy=definitions.to_proto(rec))

    async def ExportStrategy(self, request: Any, context: Any) -> Any:
        rec = await self.strategies.get(request.id, owner=caller(context).user)
        return strategy_pb2.ExportStrategyResponse(json=definitions.export_json(rec))

    # --- backtests -------------------------------------------------------------------------
    async def RunBacktest(self, request: Any, context: Any
                          ) -> AsyncIterator[strategy_pb2.BacktestProgress]:
        who = caller(context, request.owner)
        spec = await prepare_spec(request.spec, owner=who.user, admin=who.admin,
                                  strategies=self.strategies,
                                  sandbox_limits=self.options.validate_sandbox)
        row = await self.backtests.create(
            who.user, who.admin, spec.SerializeToString(), strategy_type=spec.strategy.type,
            strategy_name=spec.strategy.name, symbols=[symbol_name(s) for s in spec.symbols])
        self.runner.wake()
        # The job runs in the worker; this stream only watches it. A client that leaves
        # cancels this generator, never the job.
        last: tuple[Any, ...] | None = None
        while True:
            key = (row.state, round(row.progress, 3), row.bars_done, row.error)
            if key != last:
                last = key
                yield progress_proto(row)
            if row.state in TERMINAL_STATES:
                return
            await asyncio.sleep(PROGRESS_POLL_S)
            row = await self.backtests.get(row.id)

    async def GetBacktest(self, request: Any, context: Any) -> Any:
        row = await self._own_backtest(request.id, context)
        return strategy_pb2.GetBacktestResponse(backtest=backtest_proto(row))

    async def GetBacktestResults(self, request: Any, context: Any) -> Any:
        row = await self._own_backtest(request.id, context)
        if row.state != "done":
            raise PreconditionFailed(
                f"backtest {row.id} is {row.state}; results exist once it is done"
                + (f" (error: {row.error})" if row.error else ""), field="id")
        res = await self.backtests.results(row.id)
        if res is None:
            raise NotFound(f"backtest {row.id} has no stored results", field="id")
        resp = strategy_pb2.GetBacktestResultsResponse(
            backtest=backtest_proto(row), metrics=metrics_proto(res.metrics))
        if res.data_source is not None:
            resp.data_source.CopyFrom(data_source_proto(res.data_source))
        for t in res.trades:
            msg = strategy_pb2.BacktestTrade(
                symbol=t.symbol, side=t.side, quantity=t.quantity,
                entry_price_paise=t.entry_price_paise, exit_price_paise=t.exit_price_paise,
                gross_pnl_paise=t.gross_pnl_paise, charges_paise=t.charges_paise,
                net_pnl_paise=t.net_pnl_paise, exit_reason=t.exit_reason)
            msg.entry_ts.CopyFrom(to_timestamp(t.entry_ts))
            if t.exit_ts is not None:
                msg.exit_ts.CopyFrom(to_timestamp(t.exit_ts))
            resp.trades.append(msg)
        for ts, eq, dd in zip(res.equity_ts, res.equity_paise, res.drawdown, strict=True):
            point = resp.equity.add(equity_paise=eq, drawdown=dd)
            point.ts.CopyFrom(to_timestamp(ts))
        return resp

    async def CancelBacktest(self, request: Any, context: Any) -> Any:
        await self._own_backtest(request.id, context)
        row = await self.backtests.request_cancel(request.id)
        return strategy_pb2.CancelBacktestResponse(backtest=backtest_proto(row))

    async def Optimize(self, request: Any, context: Any
                       ) -> AsyncIterator[strategy_pb2.OptimizeProgress]:
        who = caller(context)
        if request.as_job:
            yield await self.submit_optimization(request, who)
            return
        try:
            spec = await prepare_spec(request.spec, owner=who.user, admin=who.admin,
                                      strategies=self.strategies,
                                      sandbox_limits=self.options.validate_sandbox)
        except MandiError as exc:
            exc.field = f"spec.{exc.field}" if exc.field else "spec"
            raise
        async for progress in optimize.run(request, spec, self.runner.history):
            yield progress

    async def _own_backtest(self, backtest_id: str, context: Any, kind: str = "backtest"
                            ) -> BacktestRow:
        """The caller's job of `kind` (an admin's: anyone's); others are not found."""
        if not backtest_id:
            raise InvalidInput("id is required", field="id")
        row = await self.backtests.get(backtest_id)
        who = caller(context)
        if (row.owner != who.user and not who.admin) or row.kind != kind:
            what = "optimisation" if kind == "optimize" else "backtest"
            raise NotFound(f"no {what} {backtest_id}", field="id")
        return row


def build_spec(settings: Settings, options: StrategyOptions | None = None) -> ServiceSpec:
    """The service for `serve`. Stores get their pool and the runner its history stub in
    on_start, after the server registered the servicer (handlers are bound at registration)."""
    options = options or StrategyOptions()
    set_max_concurrent(settings.strategy_sandbox_max)
    strategies = StrategyStore(None)  # type: ignore[arg-type]
    backtests = BacktestStore(None)  # type: ignore[arg-type]
    runner = BacktestRunner(backtests, None,  # type: ignore[arg-type]
                            lease_s=options.lease_s, poll_s=options.poll_s,
                            concurrency=options.workers, sandbox_limits=options.sandbox)
    redis = create_redis(settings.redis_url, decode_responses=False)
    bots = BotStore(None, notify=lambda kind, data: publish_event(  # type: ignore[arg-type]
        redis, settings.redis_prefix, kind, data))
    clock = make_clock(settings)  # a bot's "now" is the market's (kitesim's when simulated)
    bot_runner = BotRunner(bots, redis,
                           replica_id=settings.strategy_replica_id or default_replica_id(),
                           prefix=settings.redis_prefix, lease_s=settings.strategy_bot_lease_s,
                           now=clock.now, fault_point=settings.strategy_test_fault)
    parity_store = ParityStore(None)
    parity_runner = ParityRunner(bots, parity_store, now=clock.now,
                                 poll_s=settings.strategy_parity_poll_s)
    servicer = StrategyServicer(strategies, backtests, runner, options, bots, bot_runner,
                                parity_runner)
    opened: dict[str, Any] = {}

    async def on_start() -> None:
        await ensure_database(settings.pg_dsn)
        await run_migrations(settings.pg_dsn, "strategy", MIGRATIONS)
        # stateless: nothing here leaves session state on a connection (no LISTEN, advisory
        # locks or cursors), so a release costs no reset round trip — every bot's order
        # acknowledgement is one; 20 for the bursts of many bots closing the same bar
        pool = await create_pool(settings.pg_dsn, schema="strategy", max_size=20,
                                 stateless=True)
        opened["pool"] = pool
        strategies.pool = backtests.pool = bots.pool = parity_store.pool = pool
        opened["channel"] = history_channel = channel(settings.addr_of("history"), settings,
                                                        caller="strategy")
        runner.history = history_pb2_grpc.HistoryServiceStub(history_channel)
        await runner.start()
        if isinstance(clock, SimClock):
            await clock.start()
            opened["clock"] = clock
        opened["md"] = md = channel(settings.addr_of("marketdata"), settings, caller="strategy")
        opened["ex"] = ex = channel(settings.addr_of("execution"), settings, caller="strategy")
        bot_runner.history = runner.history
        bot_runner.marketdata = marketdata_pb2_grpc.MarketdataServiceStub(md)
        bot_runner.execution = execution_pb2_grpc.ExecutionServiceStub(ex)
        await bot_runner.start()
        parity_runner.history = runner.history
        parity_runner.execution = bot_runner.execution
        parity_runner.marketdata = bot_runner.marketdata
        await parity_runner.start()

    async def on_stop() -> None:
        await parity_runner.stop()
        await bot_runner.stop()
        await runner.stop()
        for name in ("channel", "md", "ex"):
            if name in opened:
                await opened[name].close()
        await redis.aclose()
        if "clock" in opened:
            await opened["clock"].close()
        if "pool" in opened:
            await opened["pool"].close()

    return ServiceSpec(
        name="strategy",
        register=lambda server: strategy_pb2_grpc.add_StrategyServiceServicer_to_server(
            servicer, server),
        service_names=[SERVICE_NAME], on_start=on_start, on_stop=on_stop)
