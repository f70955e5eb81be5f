"""Bots over gRPC: Deploy (create), Start, Stop, Pause, ListBots, GetBot, DeleteBot and
StreamBotState, as a mixin of the strategy servicer.

A bot's definition is a backtest run body checked by the backtest's own `prepare_spec` (the
strategy is copied in, symbols normalised, sizing and costs checked, errors naming the field),
plus the account, mode and name; so whatever runs as a backtest deploys as a bot with the same
meaning. Status changes are audited with the calling user.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from mandi.core.errors import InvalidInput, MandiError
from mandi.core.intervals import parse_interval
from mandi.platform.protoconv import to_timestamp
from mandi.v1 import strategy_pb2
from services.strategy import library
from services.strategy.bot_engine import check_sizing
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


def bot_state_proto(row: BotRow) -> strategy_pb2.BotState:
    msg = strategy_pb2.BotState(
        deployment_id=row.id, running=row.status == "running", mode=MODE_OF[row.mode],
        account_id=row.account_id, status=STATUS[row.status], name=row.name, error=row.error,
        bars=row.bars, orders=row.orders, spec=strategy_pb2.BacktestSpec.FromString(row.spec),
        owner=row.owner)
    msg.state.update(row.state)
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
    if not spec.interval:
        raise InvalidInput("interval is required", field="interval")
    # prepare_spec checks a run over a period; a bot's period is open-ended: today stands in
    now = datetime.now(UTC)
    getattr(spec, "from").CopyFrom(to_timestamp(now - timedelta(days=1)))
    spec.to.CopyFrom(to_timestamp(now))
    spec = await prepare_spec(spec, owner=owner, admin=admin, strategies=strategies,
                              sandbox_limits=sandbox_limits)
    spec.ClearField("from")
    spec.ClearField("to")
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

    async def Deploy(self, request: Any, context: Any) -> Any:
        who = self._caller(context, request.owner)
        if not request.account_id.strip():
            raise InvalidInput("account_id is required", field="account_id")
        mode = MODES.get(request.mode)
        if mode is None:
            raise InvalidInput("mode must be paper or live", field="mode")
        spec = await deploy_spec(request, owner=who.user, admin=who.admin,
                                 strategies=self.strategies,  # type: ignore[attr-defined]
                                 sandbox_limits=self.options.validate_sandbox)  # type: ignore
        bot_id = new_bot_id()
        name = request.name.strip() or f"{spec.strategy.type} " + \
            ",".join(symbol_name(s) for s in spec.symbols) + f" {bot_id}"
        row = await self.bots.create(BotRow(
            id=bot_id, owner=who.user, name=name, spec=spec.SerializeToString(),
            account_id=request.account_id.strip(), mode=mode,
            product=strategy_pb2.Product.Name(spec.costs.product).removeprefix("PRODUCT_")),
            actor=who.user)
        return strategy_pb2.DeployResponse(deployment_id=row.id, state=bot_state_proto(row))

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
        rows = await self.bots.list(who.user)
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
        if not bot_id:
            raise InvalidInput("deployment_id is required", field="deployment_id")
        who = self._caller(context)
        return await self.bots.get(bot_id, owner=None if who.admin else who.user)

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
