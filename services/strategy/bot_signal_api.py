"""Bots' logs and signals over gRPC, and external bots' calls: ListBotLogs, StreamBotLogs,
ListSignals, StreamSignals, PostSignal and RotateBotKey, as a mixin of the strategy servicer.

StreamSignals and StreamBotLogs send the bot's most recent records (oldest first), then every
new one as it is recorded, by polling the store like StreamBotState (any replica records, any
serves).
PostSignal is authenticated by the bot's key, not by the caller's identity (bot_external.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from google.protobuf import struct_pb2

from mandi.core.errors import InvalidInput
from mandi.platform.protoconv import from_timestamp, has_timestamp, to_timestamp
from mandi.v1 import strategy_pb2
from services.strategy.bot_external import ExternalSignals, is_external
from services.strategy.bot_logs import BotLogRow, BotLogs
from services.strategy.bot_signals import SignalRow, SignalStore, new_key
from services.strategy.bot_store import BotRow

POLL_S = 0.25
DEFAULT_RECENT = 20
MAX_RECENT = 500


def signal_proto(s: SignalRow, refs: dict[str, Any]) -> strategy_pb2.Signal:
    msg = strategy_pb2.Signal(
        deployment_id=s.bot_id, action=s.side, quantity=s.quantity, price_paise=s.price_paise,
        reason=s.reason, id=s.signal_id, source=s.source, outcome=s.outcome, detail=s.detail,
        client_order_id=s.client_order_id, order_id=s.order_id, seq=s.seq,
        target_weight="" if s.target_weight is None else str(s.target_weight),
        latency_us=s.latency_us)
    msg.ts.CopyFrom(to_timestamp(s.ts))
    if s.created_at is not None:
        msg.created_at.CopyFrom(to_timestamp(s.created_at))
    if s.symbol in refs:
        msg.symbol.CopyFrom(refs[s.symbol])
    return msg


def log_proto(r: BotLogRow) -> strategy_pb2.BotLog:
    fields = struct_pb2.Struct()
    fields.update(r.fields)
    msg = strategy_pb2.BotLog(id=r.id, deployment_id=r.bot_id, level=r.level, event=r.event,
                              message=r.message, fields=fields)
    msg.ts.CopyFrom(to_timestamp(r.ts))
    return msg


def _refs(row: BotRow) -> dict[str, Any]:
    from services.strategy.candles import symbol_name
    return {symbol_name(s): s for s in strategy_pb2.BacktestSpec.FromString(row.spec).symbols}


class BotSignalApi:
    """Mixed into StrategyServicer next to BotApi (`_own`, `_caller`, `bots`, `bot_runner`)."""

    bots: Any
    bot_runner: Any
    _own: Any
    _bots_of: Any
    _caller: Any

    @property
    def bot_logs(self) -> BotLogs:
        return BotLogs(self.bots)

    @property
    def bot_signals(self) -> SignalStore:
        return SignalStore(self.bots)

    async def rotate_key(self, bot_id: str) -> str:
        key = new_key()
        await self.bot_signals.set_key(bot_id, key)
        return key

    async def ListBotLogs(self, request: Any, context: Any) -> Any:
        if request.deployment_id:
            ids = [(await self._own(request.deployment_id, context)).id]
        else:
            who = self._caller(context)
            ids = [b.id for b in await self._bots_of(who.user)]
        since = from_timestamp(request.since) if has_timestamp(request.since) else None
        rows = await self.bot_logs.list(ids, level=request.level, since=since,
                                        before_id=request.before_id, limit=request.limit)
        resp = strategy_pb2.ListBotLogsResponse()
        resp.logs.extend(log_proto(r) for r in rows)
        if rows and len(rows) == (request.limit or 100):
            resp.next_before_id = rows[-1].id
        return resp

    async def ListSignals(self, request: Any, context: Any) -> Any:
        row = await self._own(request.deployment_id, context)
        rows = await self.bot_signals.list(row.id, before_seq=request.before_seq,
                                           limit=request.limit)
        refs = _refs(row)
        resp = strategy_pb2.ListSignalsResponse(signals=[signal_proto(s, refs) for s in rows])
        if rows and len(rows) == (request.limit or 100):
            resp.next_before_seq = rows[-1].seq
        return resp

    async def StreamSignals(self, request: Any, context: Any
                            ) -> AsyncIterator[strategy_pb2.Signal]:
        """The bot's `recent` last signals, then each new one, until the client leaves."""
        row = await self._own(request.deployment_id, context)
        if not 0 <= request.recent <= MAX_RECENT:
            raise InvalidInput(f"recent must be 0..{MAX_RECENT}", field="recent")
        refs = _refs(row)
        store = self.bot_signals
        recent = await store.list(row.id, limit=request.recent or DEFAULT_RECENT)
        last = recent[0].seq if recent else 0
        for s in reversed(recent):
            yield signal_proto(s, refs)
        while True:
            await asyncio.sleep(POLL_S)
            for s in await store.after(row.id, last):
                last = s.seq
                yield signal_proto(s, refs)

    async def StreamBotLogs(self, request: Any, context: Any
                            ) -> AsyncIterator[strategy_pb2.BotLog]:
        """The bot's `recent` last log records at or above `level`, then each new one."""
        row = await self._own(request.deployment_id, context)
        if not 0 <= request.recent <= MAX_RECENT:
            raise InvalidInput(f"recent must be 0..{MAX_RECENT}", field="recent")
        logs = self.bot_logs
        recent = await logs.list([row.id], level=request.level,
                                 limit=request.recent or DEFAULT_RECENT)
        last = recent[0].id if recent else 0
        for r in reversed(recent):
            yield log_proto(r)
        while True:
            await asyncio.sleep(POLL_S)
            for r in await logs.after(row.id, last, level=request.level):
                last = r.id
                yield log_proto(r)

    async def PostSignal(self, request: Any, context: Any) -> Any:
        sig, duplicate = await ExternalSignals(self.bots, self.bot_signals,
                                               self.bot_runner).post(request)
        row = await self.bots.get(sig.bot_id)
        return strategy_pb2.PostSignalResponse(signal=signal_proto(sig, _refs(row)),
                                               duplicate=duplicate)

    async def RotateBotKey(self, request: Any, context: Any) -> Any:
        row = await self._own(request.deployment_id, context)
        if not is_external(strategy_pb2.BacktestSpec.FromString(row.spec)):
            raise InvalidInput("only external bots take signals with a key",
                               field="deployment_id")
        key = await self.rotate_key(row.id)
        await self.bot_logs.write(row.id, "info", "key", "signal key rotated",
                                  actor=self._caller(context).user)
        return strategy_pb2.RotateBotKeyResponse(signal_key=key)
