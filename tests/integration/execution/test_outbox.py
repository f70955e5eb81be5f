"""The order-events outbox relay (services/execution/outbox.py) on the real ledger: a cursor
resumes after the last event, a row whose id was drawn before a delivered one but committed after
it is still delivered (live and on a resume), and a row whose doorbell never rang arrives by the
fallback read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from services.execution.outbox import Relay, relay
from tests.integration.execution.kit import Env, spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def _event(conn: Any, env: Env, order_id: str, message: str) -> int:
    return await conn.fetchval(
        "INSERT INTO order_events (order_id, account_id, status, message, ts)"
        " VALUES ($1, $2, 'OPEN', $3, now()) RETURNING id", order_id, env.account_id, message)


@asynccontextmanager
async def _stream(env: Env, since: int) -> AsyncIterator[tuple[asyncio.Queue[Any], int]]:
    """relay() in a task feeding a queue; yields (queue, the cursor it started from)."""
    q: asyncio.Queue[Any] = asyncio.Queue()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def ready(cursor: int) -> None:
        started.set_result(cursor)

    async def run() -> None:
        async for row in relay(env.pool, env.engine.events.redis,
                               env.engine.events.channel(env.account_id), env.account_id,
                               since, ready=ready, poll_s=0.2):
            await q.put(row)

    task = asyncio.create_task(run())
    try:
        yield q, await asyncio.wait_for(started, 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _drain(q: asyncio.Queue[Any], n: int, wait_s: float = 5) -> list[Any]:
    return [await asyncio.wait_for(q.get(), wait_s) for _ in range(n)]


async def _quiet(q: asyncio.Queue[Any], quiet_s: float = 0.6) -> list[Any]:
    """Everything the stream sends until it has been quiet for quiet_s (several reads)."""
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(q.get(), quiet_s))
        except TimeoutError:
            return out


async def test_resume_after_a_cursor_sends_every_later_event_in_id_order(env: Env) -> None:
    for i in range(3):
        await env.engine.place(env.account_id, spec(f"cur-{i}", allow_duplicate=True))
    ids = [r["id"] for r in await env.pool.fetch(
        "SELECT id FROM order_events WHERE account_id = $1 ORDER BY id", env.account_id)]
    assert len(ids) >= 6  # PENDING and OPEN per order
    async with _stream(env, ids[1]) as (q, cursor):
        assert cursor == ids[1]
        got = [r["id"] for r in await _quiet(q)]
    # after the cursor: each once, in id order; before it, only rows of transactions that
    # were in flight when the cursor's row was written (other tests' load can make some)
    assert [i for i in got if i > ids[1]] == ids[2:]
    assert len(got) == len(set(got)) and ids[1] not in got


async def test_a_lower_id_committed_after_a_higher_one_is_not_skipped(env: Env) -> None:
    row, _ = await env.engine.place(env.account_id, spec("gap", allow_duplicate=True))
    oid = row["order_id"]
    async with _stream(env, 0) as (q, _cursor):
        slow = await env.pool.acquire()
        tx = slow.transaction()
        await tx.start()
        try:
            low = await _event(slow, env, oid, "slow")  # id drawn, not committed
            high = await _event(env.pool, env, oid, "fast")  # committed at once
            assert high > low
            first = [r["id"] for r in await _quiet(q)]  # reads while the slow one is open
            await tx.commit()
        finally:
            await env.pool.release(slow)
        late = [r["id"] for r in await _quiet(q)]
    assert first == [high]
    assert late == [low]


async def test_a_resume_finds_a_row_in_flight_when_the_cursor_was_taken(env: Env) -> None:
    """The client saw `high` and disconnected while `low` (a lower id) was uncommitted: its
    resume from `high` must still get `low`."""
    row, _ = await env.engine.place(env.account_id, spec("gap2", allow_duplicate=True))
    oid = row["order_id"]
    slow = await env.pool.acquire()
    tx = slow.transaction()
    await tx.start()
    try:
        low = await _event(slow, env, oid, "slow")
        high = await _event(env.pool, env, oid, "fast")
        await tx.commit()
    finally:
        await env.pool.release(slow)
    r = Relay(env.pool, env.account_id)
    await r.start(high)
    got = [x["id"] for x in await r.read()]
    assert low in got and high not in got and len(got) == len(set(got))
    assert await r.read() == []  # nothing twice


async def test_an_event_whose_doorbell_never_rang_arrives_by_the_fallback_read(env: Env
                                                                               ) -> None:
    row, _ = await env.engine.place(env.account_id, spec("bell", allow_duplicate=True))
    async with _stream(env, 0) as (q, cursor):
        eid = await _event(env.pool, env, row["order_id"], "silent")  # no publish at all
        got = await _drain(q, 1, wait_s=3)
        assert got[0]["id"] == eid > cursor


async def test_an_account_without_events_starts_at_minus_one_and_resumes_from_its_first(
        env: Env) -> None:
    aid = await env.add_account()
    r = Relay(env.pool, aid)
    await r.start(0)
    assert r.start_cursor == -1  # a resume from -1 means every event of the account
    await env.engine.place(aid, spec("first", allow_duplicate=True))
    ids = [x["id"] for x in await env.pool.fetch(
        "SELECT id FROM order_events WHERE account_id = $1 ORDER BY id", aid)]
    again = Relay(env.pool, aid)
    await again.start(-1)
    assert [x["id"] for x in await again.read()] == ids and len(ids) >= 1
