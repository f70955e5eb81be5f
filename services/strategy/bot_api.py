"""Bots over gRPC: Deploy (create), Start, Stop, Pause, ListBots, GetBot, DeleteBot,
SetBotSchedule and StreamBotState, as a mixin of the strategy servicer (logs, signals and
external bots' calls are in bot_signal_api.py).

A bot's definition is a backtest run body checked by the backtest's own `prepare_spec` (the
strategy is copied in, symbols normalised, sizing and costs checked, errors naming the field),
plus the account, mode, name and an optional schedule (services/strategy/bot_schedule.py, checked
here, errors naming `schedule.<field>`); so whatever runs as a backtest deploys as a bot with the
same meaning. Status changes are audited with the calling user. A strategy of type `external`
(bot_external.py) skips the strategy and candle checks; Deploy answers its key once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from mandi.core.errors import InvalidInput, MandiError, NotFound
from mandi.core.intervals import parse_interval
from mandi.platform.account_scope import check_account
from mandi.platform.protoconv import to_timestamp
from mandi.platform.service_auth import current_principal
from mandi.v1 import strategy_pb2
from services.strategy import bot_schedule, library
from services.strategy.bot_engine import check_sizing
from services.strategy.bot_external import is_external
from services.strategy.bot_store import BotRow, BotStore, new_bot_id
from services.strategy.candles import symbol_name
from services.strategy.jobs import prepare_spec

DEFAULT_CAPITAL_PAISE = 100_000_000  # ₹10 lakh, as the backtester's default
STATE_POLL_S = 0.5
MODES = {strategy_pb2.RUN_MODE_PAPER: "paper", strategy_pb2.RUN_MODE_LIVE: "live"}
MODE_OF = {v: k for k, v in MODES.items()}
STATUS = {"created": strategy_pb2.BOT_STATUS_CREATED, "running": strategy_pb2.BOT_STATUS_RUNNING,
          "paused": strategy_pb2.BOT_STATUS_PAUSED, "stopped": strategy_pb2.BOT_STATUS_STOPPED,
          "error": strategy_pb2.BOT_STATUS_ERROR}


def schedule_json(request: Any) -> dict[str, str] | None:
    """The checked JSON form of a request's `schedule` (None when unset)."""
    if not request.HasField("schedule"):
        return None
    sc = request.schedule
    return bot_schedule.parse({k: v for k, v in (("start", sc.start), ("stop", sc.stop),
                                                 ("days", sc.days)) if v}).to_json()


def bot_state_proto(row: BotRow) -> strategy_pb2.BotState:
    msg = strategy_pb2.BotState(
        deployment_id=row.id, running=row.status == "running", mode=MODE_OF[row.mode],
        account_id=row.account_id, status=STATUS[row.status], name=row.name, error=row.error,
        bars=row.bars, orders=row.orders, spec=strategy_pb2.BacktestSpec.FromString(row.spec),
        owner=row.owner)
    msg.state.update(row.state)
    if row.schedule is not None:
        msg.schedule.CopyFrom(strategy_pb2.BotSchedule(**row.schedule))
    if row.updated_at is not None:
        msg.updated_at.CopyFrom(to_timestamp(row.updated_at))
    return msg


async def deploy_spec(request: Any, *, owner: str, admin: bool, strategies: Any,
                      sandbox_limits: Any) -> strategy_pb2.BacktestSpec:
    """The bot's self-contained BacktestSpec from a DeployRequest, checked like a backtest's."""
    spec = strategy_pb2.BacktestSpec()
    spec.CopyFrom(request.spec)
    if request.strategy_id:
        spec.strategy_id = request.strategy_id
        spec.ClearField("strategy")
    if request.symbols:
        del spec.symbols[:]
        spec.symbols.extend(request.symbols)
    if request.interval:
        spec.interval = request.interval
    if request.HasField("sizing"):
        spec.sizing.CopyFrom(request.sizing)
    if request.product:
        spec.costs.product = request.product
    if not spec.costs.product:
        spec.costs.product = strategy_pb2.PRODUCT_MIS
    if not spec.capital_paise:
        spec.capital_paise = DEFAULT_CAPITAL_PAISE
    external = not request.strategy_id and not spec.strategy_id and is_external(spec)
    if external:
        if spec.strategy.params or spec.strategy.rules or spec.strategy.code:
            raise InvalidInput("an external strategy takes no params, rules or code",
                               field="strategy.params")
        spec.interval = spec.interval or "minute"
    if not spec.interval:
        raise InvalidInput("interval is required", field="interval")
    # prepare_spec checks a run over a period; a bot's period is open-ended: today stands in
    now = datetime.now(UTC)
    getattr(spec, "from").CopyFrom(to_timestamp(now - timedelta(days=1)))
    spec.to.CopyFrom(to_timestamp(now))
    spec = await prepare_spec(spec, owner=owner, admin=admin, strategies=strategies,
                              sandbox_limits=sandbox_limits, check_strategy=not external)
    spec.ClearField("from")
    spec.ClearField("to")
    if external:  # no candles: the interval does not matter; sizing is the signal's
        return spec
    if not parse_interval(spec.interval).is_intraday:
        raise InvalidInput("bots run on intraday candles from marketdata (minute … 60minute)",
                           field="interval")
    if spec.strategy.type == "custom":
        raise InvalidInput("custom Python strategies cannot run as bots yet", field="strategy")
    if spec.fill == strategy_pb2.FILL_CONVENTION_CLOSE:
        raise InvalidInput("bots fill at the market after the bar closes (next_open)",
                           field="fill")
    check_sizing(library.config_of(spec))
    return spec


class BotApi:
    """Mixed into StrategyServicer, which provides `caller`, `strategies`, `options`."""

    bots: BotStore
    bot_runner: Any
    rotate_key: Any  # BotSignalApi's

    async def Deploy(self, request: Any, context: Any) -> Any:
        who = self._caller(context, request.owner)
        if not request.account_id.strip():
            raise InvalidInput("account_id is required", field="account_id")
        check_account(request.account_id.strip())  # a user deploys on its own accounts only
        mode = MODES.get(request.mode)
        if mode is None:
            raise InvalidInput("mode must be paper or live", field="mode")
        schedule = schedule_json(request)
        spec = await deploy_spec(request, owner=who.user, admin=who.admin,
                                 strategies=self.strategies,  # type: ignore[attr-defined]
                                 sandbox_limits=self.options.validate_sandbox)  # type: ignore
        bot_id = new_bot_id()
        name = request.name.strip() or f"{spec.strategy.type} " + \
            ",".join(symbol_name(s) for s in spec.symbols) + f" {bot_id}"
        row = await self.bots.create(BotRow(
            id=bot_id, owner=who.user, name=name, spec=spec.SerializeToString(),
            account_id=request.account_id.strip(), mode=mode,
            product=strategy_pb2.Product.Name(spec.costs.product).removeprefix("PRODUCT_"),
            schedule=schedule), actor=who.user)
        resp = strategy_pb2.DeployResponse(deployment_id=row.id, state=bot_state_proto(row))
        if is_external(spec):  # its key, shown this once (bot_external.py)
            resp.signal_key = await self.rotate_key(row.id)
        return resp

    async def Start(self, request: Any, context: Any) -> Any:
        row = await self._transition(request.deployment_id, "running", context)
        return strategy_pb2.StartResponse(state=bot_state_proto(row))

    async def Stop(self, request: Any, context: Any) -> Any:
        row = await self._transition(request.deployment_id, "stopped", context)
        return strategy_pb2.StopResponse(state=bot_state_proto(row))

    async def Pause(self, request: Any, context: Any) -> Any:
        row = await self._transition(request.deployment_id, "paused", context)
        return strategy_pb2.PauseResponse(state=bot_state_proto(row))

    async def ListBots(self, request: Any, context: Any) -> Any:
        who = self._caller(context, request.owner)
        rows = await self._bots_of(who.user)
        return strategy_pb2.ListBotsResponse(bots=[bot_state_proto(r) for r in rows])

    async def GetBot(self, request: Any, context: Any) -> Any:
        row = await self._own(request.deployment_id, context)
        refs = {symbol_name(s): s for s in strategy_pb2.BacktestSpec.FromString(row.spec).symbols}
        resp = strategy_pb2.GetBotResponse(state=bot_state_proto(row))
        for o in await self.bots.orders(row.id):
            msg = resp.orders.add(client_order_id=o.client_order_id, side=o.side,
                                  quantity=o.quantity, tag=o.tag, reason=o.reason,
                                  order_id=o.order_id, status=o.status)
            msg.bar_ts.CopyFrom(to_timestamp(o.bar_ts))
            if o.symbol in refs:
                msg.symbol.CopyFrom(refs[o.symbol])
        return resp

    async def DeleteBot(self, request: Any, context: Any) -> Any:
        row = await self._own(request.deployment_id, context)
        await self.bots.delete(row.id)
        return strategy_pb2.DeleteBotResponse()

    async def SetBotSchedule(self, request: Any, context: Any) -> Any:
        """Replace the bot's schedule, or remove it (schedule unset); the runner applies it
        on its next listing."""
        row = await self._own(request.deployment_id, context)
        schedule = schedule_json(request)
        row = await self.bots.set_schedule(row.id, schedule, self._caller(context).user)
        if self.bot_runner is not None:
            self.bot_runner.wake()
        return strategy_pb2.SetBotScheduleResponse(state=bot_state_proto(row))

    async def StreamBotState(self, request: Any, context: Any
                             ) -> AsyncIterator[strategy_pb2.BotState]:
        """The bot's state now and after every change (each processed bar, each status
        change), until the client leaves."""
        row = await self._own(request.deployment_id, context)
        last = None
        while True:
            key = (row.updated_at, row.status)
            if key != last:
                last = key
                yield bot_state_proto(row)
            await asyncio.sleep(STATE_POLL_S)
            row = await self.bots.get(row.id)

    # --- helpers ---------------------------------------------------------------------------
    def _caller(self, context: Any, owner: str = "") -> Any:
        from services.strategy.server import caller
        return caller(context, owner)

    async def _own(self, bot_id: str, context: Any) -> BotRow:
        """The caller's bot `bot_id`: its owner's (any for an admin), on an account the caller
        holds — a bot on an account no longer granted answers as one that does not exist."""
        if not bot_id:
            raise InvalidInput("deployment_id is required", field="deployment_id")
        who = self._caller(context)
        row = await self.bots.get(bot_id, owner=None if who.admin else who.user)
        if not current_principal().may_use(row.account_id):
            raise NotFound(f"no bot {bot_id}", field="id")
        return row

    async def _bots_of(self, owner: str) -> list[BotRow]:
        """`owner`'s bots on the accounts the caller holds."""
        who = current_principal()
        return [r for r in await self.bots.list(owner) if who.may_use(r.account_id)]

    async def _transition(self, bot_id: str, status: str, context: Any) -> BotRow:
        row = await self._own(bot_id, context)
        try:
            row = await self.bots.set_status(row.id, status, self._caller(context).user)
        except MandiError as exc:
            exc.field = "deployment_id"
            raise
        if self.bot_runner is not None:
            self.bot_runner.wake()
        return row
