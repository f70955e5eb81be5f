"""A strategy bot's signals and logs, recorded by the runner on the real stack of
test_bot_account_stops (execution over gRPC with its paper broker, marketdata's candle log,
PostgreSQL, Redis): each order the strategy asks for becomes a `bot_signals` row saying whether
execution took it (or why not) and a log record; start and status changes are logged. And the
log retention bound."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.execution import loss_limit
from services.strategy.bot_logs import PRUNE_EVERY, BotLogs
from services.strategy.bot_signals import SignalStore
from tests.integration.execution.kit import MARKET_OPEN
from tests.integration.strategy.test_bot_account_stops import UP_DOWN_UP, _streams, _until, stack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


async def test_runner_records_each_order_as_a_signal_with_its_outcome_and_logs_it() -> None:
    async with stack() as s:
        aid = s.env.account_id
        bot = await s.bot(aid, "traded")
        await _streams(s, 1)
        await s.feed(UP_DOWN_UP)
        signals = SignalStore(s.store)

        rows: list = []
        logs: list = []

        async def recorded() -> bool:
            # the feed goes on trading while we read: a signal's row and its log record are
            # written a moment apart, so read both until they agree (at least entry and exit)
            nonlocal rows, logs
            rows = list(reversed(await signals.list(bot)))
            logs = await BotLogs(s.store).list([bot], limit=100)
            return len(rows) >= 2 and sum(x.event == "signal" for x in logs) == len(rows)
        await _until(recorded, "the bot's entry and exit were not recorded as signals and logs")
        orders = {o.client_order_id: o for o in await s.store.orders(bot)}
        assert [(r.reason, r.side, r.outcome, r.source) for r in rows[:2]] == [
            ("entry", "BUY", "order", "strategy"), ("signal", "SELL", "order", "strategy")]
        for r in rows:
            assert r.client_order_id in orders and r.order_id == orders[r.client_order_id].order_id
            assert r.latency_us > 0 and r.quantity == 1
            assert r.ts >= MARKET_OPEN
        events = [x.event for x in reversed(logs)]
        assert events[:3] == ["status", "status", "start"]  # created, running, start
        assert events.count("signal") == len(rows)
        assert {x.fields["client_order_id"] for x in logs if x.event == "signal"} == \
            {r.client_order_id for r in rows}


async def test_a_refused_entry_is_a_signal_with_executions_reason() -> None:
    async with stack() as s:
        aid = s.env.account_id
        bot = await s.bot(aid, "latched")
        await _streams(s, 1)
        await s.env.pool.execute(loss_limit.LATCH, aid,
                                 (MARKET_OPEN + timedelta(0)).date())
        await s.feed(UP_DOWN_UP)
        signals = SignalStore(s.store)

        async def one() -> bool:
            return len(await signals.list(bot)) >= 1
        await _until(one, "the refused entry was not recorded")
        (row,) = await signals.list(bot)
        assert (row.reason, row.outcome, row.order_id) == ("entry", "refused", "")
        assert "daily_loss_limit" in row.detail

        async def warned() -> bool:
            logs = await BotLogs(s.store).list([bot], level="warning")
            return {"signal", "entries_blocked"} <= {x.event for x in logs}
        await _until(warned, "the refusal and the entry block were not logged as warnings")


async def test_log_retention_keeps_the_newest_rows_per_bot() -> None:
    async with stack(watch=False) as s:
        bot = await s.bot(s.env.account_id, "chatty", status="running")
        logs = BotLogs(s.store, keep_per_bot=3)
        for i in range(6):
            await logs.write(bot, "debug", "note", f"n{i}", i=i)
        assert await logs.prune(bot) >= 3
        kept = await logs.list([bot], limit=10)
        assert [x.message for x in kept] == ["n5", "n4", "n3"]
        assert kept[0].fields == {"i": 5}
        with pytest.raises(Exception, match="level"):
            await logs.list([bot], level="loud")
        # writers prune by themselves: every PRUNE_EVERY-th record (by id) cuts the bot back
        for i in range(2 * PRUNE_EVERY):
            await logs.write(bot, "debug", "note", f"m{i}")
        count = await s.store.pool.fetchval("SELECT count(*) FROM bot_logs WHERE bot_id = $1",
                                            bot)
        assert count < PRUNE_EVERY + 3
