"""Background work: one sync loop per process, leading per account through a Redis lease so
replicas do not poll the same broker twice, and the daily broker-session renewal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import time as dtime
from typing import Any

from mandi.core.clock import to_ist
from mandi.core.errors import AuthError, MandiError
from services.execution.ledger import audit
from services.execution.sync import sync_account

log = logging.getLogger(__name__)

LEASE_S = 5
SESSION_RENEW_AFTER = dtime(6, 30)  # Kite tokens expire ~06:00 IST; renew once a day after


class Worker:
    def __init__(self, engine: Any, *, poll_interval_s: float = 1.0) -> None:
        self.engine = engine
        self.poll_interval_s = poll_interval_s
        self.token = uuid.uuid4().hex
        self._task: asyncio.Task[None] | None = None
        self._renewed: dict[str, Any] = {}

    async def _lead(self, account_id: str) -> bool:
        key = f"mandi:exec:lease:{account_id}"
        redis = self.engine.redis
        if await redis.set(key, self.token, nx=True, ex=LEASE_S):
            return True
        if await redis.get(key) == self.token:
            await redis.expire(key, LEASE_S)
            return True
        return False

    async def run_once(self) -> None:
        for account in await self.engine.accounts.list():
            if not await self._lead(account.account_id):
                continue
            try:
                await self._session(account)
                if account.session_state == "expired":
                    continue
                await sync_account(self.engine, account)
            except AuthError as exc:
                await self.engine.accounts.set_session_state(account.account_id, "expired")
                log.warning("account %s: broker session expired: %s", account.account_id, exc)
            except MandiError as exc:
                log.warning("account %s: sync failed: %s", account.account_id, exc)

    async def _session(self, account: Any) -> None:
        """Log the broker session out and renew it once per IST day (SEBI retail-algo rule)."""
        broker = self.engine.brokers.get(account)
        if not broker.capabilities.session:
            return
        local = to_ist(self.engine.clock.now())
        if account.account_id not in self._renewed:  # the token we start with is today's
            self._renewed[account.account_id] = local.date()
            return
        if local.time() < SESSION_RENEW_AFTER or self._renewed.get(account.account_id) == \
                local.date():
            return
        self._renewed[account.account_id] = local.date()
        try:
            await broker.logout()
        except MandiError as exc:
            log.info("account %s: logout: %s", account.account_id, exc)
        renewed = await broker.renew_session()
        state = "ok" if renewed else "expired"
        await self.engine.accounts.set_session_state(account.account_id, state)
        await audit(self.engine.pool, account.account_id, "system", "broker_session_renewed"
                    if renewed else "broker_session_expired", self.engine.clock.now())

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("execution worker pass failed")
            await asyncio.sleep(self.poll_interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="execution-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
