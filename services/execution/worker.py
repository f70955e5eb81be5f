"""Background work: one sync loop per process, leading per account through a Redis lease so
replicas do not poll the same broker twice. Each pass per account: renew the broker session once
its token has expired (06:00 IST after issue), apply the broker's orders (external ones too),
resolve PENDING orders whose broker answer was lost (by tag), and settle F&O expiries. The
leader also keeps the account's day metrics (P&L, loss used, latched: metrics.py) current: the
loss limit publishes them on every evaluation, and a pass reads them once when they are missing
or from an earlier IST day; a replica that does not lead an account drops its series."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import timedelta
from typing import Any

from mandi.core.clock import to_ist
from mandi.core.errors import AuthError, MandiError
from mandi.kite.session_store import token_expiry
from services.execution import loss_limit, metrics
from services.execution.expiry import settle_expiries
from services.execution.ledger import audit
from services.execution.reconcile import PENDING_GRACE_S, resolve_pending
from services.execution.sync import apply_update, sync_account

log = logging.getLogger(__name__)

LEASE_S = 5
# KEYS: lease keys; ARGV: [token, seconds]. 1 where the lease is (now) ours, else 0.
_LEAD = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'EX', ARGV[2]) then
    out[i] = 1
  elseif redis.call('GET', key) == ARGV[1] then
    redis.call('EXPIRE', key, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""
RENEW_GRACE = timedelta(minutes=30)  # renew at 06:30, once the new day's login is open


class Worker:
    def __init__(self, engine: Any, *, poll_interval_s: float = 1.0,
                 pending_grace_s: float = PENDING_GRACE_S) -> None:
        self.engine = engine
        self.poll_interval_s = poll_interval_s
        self.pending_grace_s = pending_grace_s
        self.token = uuid.uuid4().hex
        self._lead_script = engine.redis.register_script(_LEAD)  # EVALSHA after the first
        self._task: asyncio.Task[None] | None = None
        self._renewed: dict[str, Any] = {}
        self._listeners: dict[str, asyncio.Task[None]] = {}
        self._contracts: dict[Any, Any] = {}  # expiry lookups: instrument dumps per IST day

    async def _lead(self, account_id: str) -> bool:
        return account_id in await self._lead_all([account_id])

    async def _lead_all(self, account_ids: list[str]) -> set[str]:
        """The accounts of `account_ids` this replica leads (taking a free lease, renewing its
        own): one Redis round trip for all of them (a pass over 50 accounts made 100)."""
        if not account_ids:
            return set()
        keys = [f"{self.engine.redis_prefix}:lease:{a}" for a in account_ids]
        led = await self._lead_script(keys=keys, args=[self.token, LEASE_S])
        return {a for a, ok in zip(account_ids, led, strict=True) if ok}

    async def run_once(self) -> None:
        listed_all = await self.engine.accounts.list()
        ids = [a.account_id for a in listed_all]
        led = await self._lead_all(ids)
        led_at = time.monotonic()
        for i, listed in enumerate(listed_all):
            if time.monotonic() - led_at > LEASE_S / 2:  # a long pass: renew what is left
                led = await self._lead_all(ids[i:])
                led_at = time.monotonic()
            if listed.account_id not in led:
                metrics.forget(listed.account_id)
                continue
            try:
                account = await self.engine.accounts.get(listed.account_id)
                await self._session(account)
                if account.session_state == "expired" and not await self._relogged(account):
                    continue
                self._listen(account)
                await sync_account(self.engine, account)
                await resolve_pending(self.engine, account, grace_s=self.pending_grace_s)
                await settle_expiries(self.engine, account, cache=self._contracts)
                now = self.engine.clock.now()
                if metrics.stale(listed.account_id, to_ist(now).date()):
                    await loss_limit.observe(self.engine.pool, listed.account_id, now)
            except AuthError as exc:
                await self.engine.accounts.set_session_state(listed.account_id, "expired")
                log.warning("account %s: broker session expired: %s", listed.account_id, exc)
            except MandiError as exc:
                log.warning("account %s: sync failed: %s", listed.account_id, exc)

    async def _relogged(self, account: Any) -> bool:
        """An expired account whose trader logged in to Kite again (through the gateway):
        its broker takes the new token and the account is `ok` again, without a restart."""
        take = getattr(self.engine.brokers.get(account), "take_new_login", None)
        if take is None or not await take():
            return False
        await self.engine.accounts.set_session_state(account.account_id, "ok")
        await audit(self.engine.pool, account.account_id, "system", "broker_session_renewed",
                    self.engine.clock.now())
        log.info("account %s: took the new Kite login", account.account_id)
        return True

    def _listen(self, account: Any) -> None:
        """Apply pushed order updates (Kite's postback socket) as they arrive; polling stays
        on as the fallback that heals anything a dropped socket missed."""
        broker = self.engine.brokers.get(account)
        if not broker.capabilities.push_updates:
            return
        task = self._listeners.get(account.account_id)
        if task is not None and not task.done():
            return
        self._listeners[account.account_id] = asyncio.create_task(
            self._consume(account, broker), name=f"order-stream-{account.account_id}")

    async def _consume(self, account: Any, broker: Any) -> None:
        try:
            async for update in broker.order_updates():
                try:
                    await apply_update(self.engine, account, broker, update)
                except MandiError as exc:
                    log.warning("account %s: pushed update not applied: %s",
                                account.account_id, exc)
        except AuthError as exc:
            log.warning("account %s: order stream stopped: %s", account.account_id, exc)

    async def _session(self, account: Any) -> None:
        """Log the broker session out and renew it once its token has expired (SEBI daily
        logout; Kite's tokens die at 06:00 IST). The token's expiry decides, not the calendar
        day: a process first started at 02:00 holds a token that dies at 06:00 that morning."""
        broker = self.engine.brokers.get(account)
        if not broker.capabilities.session:
            return
        now = self.engine.clock.now()
        expires = self._renewed.get(account.account_id)
        if expires is None:  # first sight: the token we hold dies at the next 06:00 IST
            self._renewed[account.account_id] = token_expiry(now)
            return
        if now < expires + RENEW_GRACE:
            return
        self._renewed[account.account_id] = token_expiry(now)
        try:
            await broker.logout()
        except MandiError as exc:
            log.info("account %s: logout: %s", account.account_id, exc)
        renewed = await broker.renew_session()
        self.engine.forget_instruments(account)  # new contracts list daily
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
        for task in self._listeners.values():
            task.cancel()
        for task in self._listeners.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._listeners.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
