"""The background worker: one replica leads an account (Redis lease), pushes are optional, and
the broker session is logged out and renewed once per IST day."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from mandi.core.clock import IST
from services.execution.brokers.paper import PaperBroker
from services.execution.worker import Worker
from tests.integration.execution.kit import Env, spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


class SessionPaper(PaperBroker):
    capabilities = replace(PaperBroker.capabilities, session=True)
    logouts = renewals = 0

    async def logout(self) -> None:
        type(self).logouts += 1

    async def renew_session(self) -> bool:
        type(self).renewals += 1
        return True


async def test_worker_when_day_changes_logs_out_and_renews_session_once(env: Env) -> None:
    account = await env.engine.accounts.get(env.account_id)
    env.engine.brokers._brokers[env.account_id] = SessionPaper(
        env.pool, env.account_id, env.data, env.clock)
    worker = Worker(env.engine)
    await worker.run_once()  # first sight: today's token is assumed fresh
    assert SessionPaper.logouts == 0
    env.clock.set(datetime(2026, 3, 11, 9, 20, tzinfo=IST))
    await worker.run_once()
    await worker.run_once()
    assert (SessionPaper.logouts, SessionPaper.renewals) == (1, 1)
    assert (await env.engine.accounts.get(account.account_id)).session_state == "ok"
    assert await env.pool.fetchval(
        "SELECT count(*) FROM audit_logs WHERE account_id = $1"
        " AND action = 'broker_session_renewed'", env.account_id) == 1


async def test_worker_when_two_replicas_only_the_lease_holder_syncs(env: Env) -> None:
    env.price("NSE:SBIN", 820.00)
    row, _ = await env.engine.place(env.account_id, spec(price_paise=81300))
    a, b = Worker(env.engine), Worker(env.engine)
    assert await a._lead(env.account_id) and not await b._lead(env.account_id)
    other = await env.add_account()  # one round trip for many: b takes the free one only
    assert await b._lead_all([env.account_id, other]) == {other}
    assert await a._lead_all([env.account_id, other]) == {env.account_id}  # a renews its own
    await env.engine.redis.delete(f"{env.engine.redis_prefix}:lease:{other}")
    env.price("NSE:SBIN", 812.00)
    await b.run_once()  # not the leader: nothing happens
    assert (await env.pool.fetchval("SELECT status FROM orders WHERE order_id = $1",
                                    row["order_id"])) == "OPEN"
    await a.run_once()
    assert (await env.pool.fetchval("SELECT status FROM orders WHERE order_id = $1",
                                    row["order_id"])) == "COMPLETE"


async def test_worker_when_first_seen_at_night_renews_the_same_morning(env: Env) -> None:
    """Finding E: a process first started at 02:00 IST holds a token that dies at 06:00 that
    morning; the renewal must come at 06:30 the same day, not the next."""

    class NightPaper(SessionPaper):
        logouts = renewals = 0

    env.clock.set(datetime(2026, 3, 12, 2, 0, tzinfo=IST))
    env.engine.brokers._brokers[env.account_id] = NightPaper(
        env.pool, env.account_id, env.data, env.clock)
    worker = Worker(env.engine)
    await worker.run_once()  # first sight at 02:00: the token expires at 06:00 today
    env.clock.set(datetime(2026, 3, 12, 5, 59, tzinfo=IST))
    await worker.run_once()  # still valid: nothing to do
    assert (NightPaper.logouts, NightPaper.renewals) == (0, 0)
    env.clock.set(datetime(2026, 3, 12, 6, 31, tzinfo=IST))
    await worker.run_once()  # dead since 06:00: renewed this morning (old code: next day)
    assert (NightPaper.logouts, NightPaper.renewals) == (1, 1)
    env.clock.set(datetime(2026, 3, 12, 9, 20, tzinfo=IST))
    await worker.run_once()  # the new token lives until 06:00 tomorrow
    assert NightPaper.renewals == 1
    env.clock.set(datetime(2026, 3, 13, 6, 31, tzinfo=IST))
    await worker.run_once()
    assert NightPaper.renewals == 2


async def test_worker_when_the_trader_logs_in_again_an_expired_account_is_ok_again(
        env: Env) -> None:
    """The gateway's Kite login (a newer stored login): the expired account's broker takes it
    and the worker marks the account ok, without a restart; no new login, it stays expired."""

    class Relogging(SessionPaper):
        new_login = False
        asked = 0

        async def take_new_login(self) -> bool:
            type(self).asked += 1
            return type(self).new_login

    env.engine.brokers._brokers[env.account_id] = Relogging(
        env.pool, env.account_id, env.data, env.clock)
    await env.engine.accounts.set_session_state(env.account_id, "expired")
    worker = Worker(env.engine)
    await worker.run_once()
    assert Relogging.asked == 1
    assert (await env.engine.accounts.get(env.account_id)).session_state == "expired"
    Relogging.new_login = True
    await worker.run_once()
    assert (await env.engine.accounts.get(env.account_id)).session_state == "ok"
    await worker.run_once()
    assert Relogging.asked == 2  # an ok account is not asked again
