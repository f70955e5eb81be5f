"""GetParity over gRPC, as a mixin of the strategy servicer: the stored report of a bot's day,
or one computed on demand (stored when the day is over). parity.py says what is compared."""

from __future__ import annotations

from typing import Any

from mandi.core.errors import MandiError
from mandi.platform.protoconv import to_timestamp
from mandi.v1 import strategy_pb2
from services.strategy.parity_run import ParityRunner, parse_day
from services.strategy.parity_store import StoredReport, utc_of


def _ts(ns: int | None) -> Any:
    return to_timestamp(utc_of(ns)) if ns is not None else None


def _order(d: dict[str, Any] | None) -> strategy_pb2.ParityOrder | None:
    if d is None:
        return None
    return strategy_pb2.ParityOrder(
        side=d["side"], quantity=d["qty"], price_paise=d.get("price_paise") or 0,
        bar_ts=_ts(d.get("bar_ts")), reason=d.get("reason", ""), status=d.get("status", ""),
        filled_quantity=d.get("filled_qty", 0), sent_ts=_ts(d.get("sent_ts")))


def parity_proto(bot_id: str, got: StoredReport) -> strategy_pb2.GetParityResponse:
    rep = got.report
    msg = strategy_pb2.GetParityResponse(
        deployment_id=bot_id, date=rep.day, unexplained=rep.unexplained,
        backtest_orders=rep.backtest_orders, live_orders=rep.live_orders, matched=rep.matched,
        pnl_backtest_paise=rep.pnl_backtest_paise, pnl_live_paise=rep.pnl_live_paise,
        pnl_difference_paise=rep.pnl_difference_paise,
        pnl_unexplained_paise=rep.pnl_unexplained_paise,
        computed_at=to_timestamp(got.computed_at), stored=got.stored)
    for key, field in (("bot_from", "warmup_bot_from"), ("backtest_from", "warmup_backtest_from")):
        if rep.warmup.get(key) is not None:
            getattr(msg, field).CopyFrom(_ts(int(rep.warmup[key])))
    for sym, c in sorted(rep.candles.items()):
        msg.candles.append(strategy_pb2.ParityCandles(
            symbol=sym, stored=c.get("stored") or 0, live_known=c.get("live") is not None,
            live=c.get("live") or 0, missing=c.get("missing") or 0,
            differing=c.get("differing") or 0))
    for d in rep.differences:
        msg.differences.append(strategy_pb2.ParityDifference(
            kind=d.kind, category=d.category, explained=d.explained, symbol=d.symbol,
            tag=d.tag, bar_ts=_ts(d.bar_ts), detail=d.detail, amount_paise=d.amount_paise,
            client_order_id=d.client_order_id, backtest=_order(d.backtest),
            live=_order(d.live)))
    return msg


class ParityApi:
    """Mixed into StrategyServicer, which provides `_own` (the caller's bot) and `parity`."""

    parity: ParityRunner | None

    async def GetParity(self, request: Any, context: Any) -> Any:
        day = parse_day(request.date)
        row = await self._own(request.deployment_id, context)  # type: ignore[attr-defined]
        if self.parity is None:
            raise MandiError("parity reports are not available in this process")
        got = await self.parity.report(row, day, refresh=request.refresh)
        return parity_proto(row.id, got)

