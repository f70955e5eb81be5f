"""Durable fetch jobs: a PostgreSQL-backed queue with bounded concurrency and crash recovery.

Why in PostgreSQL: a batch of 500 symbols takes tens of minutes at 3 req/s; it must survive a
deploy or a kill -9 and must not run twice when two replicas are up. Items are claimed with
`FOR UPDATE SKIP LOCKED` under a lease the worker renews; a dead worker's lease lapses and any
replica reclaims the item and resumes after its `cursor` (the end of the last chunk written —
chunks are written before the cursor moves, and writes are upserts, so a resumed item neither
duplicates nor skips bars). Claims prefer the account with the fewest running items, so one
user's 500-symbol batch does not starve another user's single fetch.

Transient Kite errors (429 from another client on the same key, 5xx, timeouts, network) do not
fail an item: it goes back to the queue with `next_try_at` set by a growing backoff, and fails
only when `retry_until` (the first such error + `retry_window_s`, a few minutes) has passed
without a chunk completing. That state is in the row, so any replica honours it after a lease
hand-over. An item failed that way is `retryable`; `requeue_failed` (the daily update) queues
it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from mandi.core.errors import (
    InvalidInput,
    MandiError,
    NotFound,
    PreconditionFailed,
    TemporaryError,
)
from mandi.core.intervals import parse_interval
from services.history import metrics
from services.history.fetcher import Fetcher, FetchOptions, FetchProgress
from services.history.instruments import InstrumentMaster, InstrumentRecord
from services.history.planner import eta_seconds, plan_chunks

log = logging.getLogger(__name__)

STATES = ("queued", "running", "done", "failed", "cancelled")
TERMINAL = frozenset({"done", "failed", "cancelled"})
MAX_ITEMS = 5000


@dataclass(frozen=True, slots=True)
class BatchItemSpec:
    """One requested item; `instrument` resolved by the caller, or exchange+symbol looked up."""

    interval: str
    exchange: str = ""
    tradingsymbol: str = ""
    instrument: InstrumentRecord | None = None
    start: datetime | None = None  # per-item range, else the batch's
    end: datetime | None = None
    options: FetchOptions | None = None


@dataclass(frozen=True, slots=True)
class JobItemView:
    seq: int
    instrument_token: int
    exchange: str
    tradingsymbol: str
    interval: str
    state: str
    requests_done: int
    requests_total: int
    rows_stored: int
    rows_fetched: int
    rows_invalid: int
    issues: dict[str, int]
    error: str
    cursor: datetime | None
    range_from: datetime | None = None
    range_to: datetime | None = None  # inclusive, as Kite's `to`
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobView:
    id: str
    kind: str
    account_id: str
    state: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    requests_done: int
    requests_total: int
    rows_stored: int
    errors: int
    eta_seconds: float
    error: str
    items: list[JobItemView] = field(default_factory=list)


def _item_view(r: asyncpg.Record) -> JobItemView:
    return JobItemView(r["seq"], r["instrument_token"], r["exchange"], r["tradingsymbol"],
                       r["interval"], r["state"], r["requests_done"], r["requests_total"],
                       r["rows_stored"], r["rows_fetched"], r["rows_invalid"],
                       json.loads(r["issues"]), r["error"], r["cursor"], r["range_from"],
                       r["range_to"], r["started_at"], r["finished_at"])


class JobQueue:
    """Create, inspect and cancel jobs; run a pool of `concurrency` workers over them."""

    def __init__(self, pool: asyncpg.Pool, fetcher: Fetcher, master: InstrumentMaster, *,
                 concurrency: int = 2, lease_s: float = 30.0, poll_s: float = 1.0,
                 worker_id: str | None = None, retry_window_s: float = 300.0,
                 retry_base_s: float = 2.0, retry_max_s: float = 60.0,
                 notify: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self._pool = pool
        # fetch_finished / fetch_failed when a job ends (fire and forget: never awaited)
        self._notify = notify
        self._fetcher = fetcher
        self._master = master
        self._concurrency = max(1, concurrency)
        self._lease_s = lease_s
        self._poll_s = poll_s
        self._retry_window_s = retry_window_s
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._stopping = False

    # --- creating and reading -----------------------------------------------------------------
    async def create_batch(self, items: Sequence[BatchItemSpec], start: datetime | None,
                           end: datetime | None, options: FetchOptions, account_id: str, *,
                           kind: str = "batch") -> JobView:
        """Validate and resolve every item, then queue them in one transaction. Any bad item
        fails the whole call with InvalidInput/NotFound naming `items[i].<field>`; nothing is
        queued then."""
        if not items:
            raise InvalidInput("a batch needs at least one item", field="items")
        if len(items) > MAX_ITEMS:
            raise InvalidInput(f"a batch holds at most {MAX_ITEMS} items, got {len(items)}",
                               field="items")
        rows: list[tuple[Any, ...]] = []
        for i, spec in enumerate(items):
            try:
                iv = parse_interval(spec.interval)
                inst = spec.instrument or await self._master.lookup(spec.exchange,
                                                                    spec.tradingsymbol)
                s, e = spec.start or start, spec.end or end
                if s is None or e is None:
                    raise InvalidInput("a range is required", field="from" if s is None else "to")
                requests = len(plan_chunks(iv, s, e))
            except MandiError as exc:
                exc.field = f"items[{i}].{exc.field or 'instrument'}"
                exc.args = (f"items[{i}]: {exc.message}",)
                exc.message = exc.args[0]
                raise
            opts = spec.options or options
            rows.append((i, inst.instrument_token, inst.exchange, inst.tradingsymbol, iv.name,
                         s, e, json.dumps(opts.to_json()), requests))
        job_id = uuid.uuid4()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO jobs (id, kind, account_id, options) VALUES"
                               " ($1, $2, $3, $4)", job_id, kind, account_id,
                               json.dumps(options.to_json()))
            await conn.executemany(
                "INSERT INTO job_items (job_id, seq, instrument_token, exchange, tradingsymbol,"
                " interval, range_from, range_to, options, requests_total) VALUES"
                " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", [(job_id, *r) for r in rows])
        self._wake.set()
        return await self.get(str(job_id))

    async def get(self, job_id: str, account_id: str | None = None) -> JobView:
        """The job with its items. Another account's job is NotFound (tenants never mix)."""
        try:
            jid = uuid.UUID(job_id)
        except (ValueError, TypeError, AttributeError):
            raise InvalidInput(f"job id {job_id!r} is not a UUID", field="job_id") from None
        async with self._pool.acquire() as conn:
            job = await conn.fetchrow("SELECT * FROM jobs WHERE id = $1", jid)
            if job is None or (account_id is not None and job["account_id"] != account_id):
                raise NotFound(f"no job {job_id}", field="job_id")
            items = await conn.fetch("SELECT * FROM job_items WHERE job_id = $1 ORDER BY seq",
                                     jid)
        return self._view(job, [_item_view(r) for r in items])

    def _view(self, job: asyncpg.Record, items: list[JobItemView]) -> JobView:
        done = sum(i.requests_done for i in items)
        total = sum(max(i.requests_total, i.requests_done) for i in items)
        left = sum(max(0, i.requests_total - i.requests_done) for i in items
                   if i.state in ("queued", "running"))
        return JobView(str(job["id"]), job["kind"], job["account_id"], job["state"],
                       job["created_at"], job["started_at"], job["finished_at"], done, total,
                       sum(i.rows_stored for i in items),
                       sum(1 for i in items if i.state == "failed"),
                       eta_seconds(left, self._fetcher.rate_per_s), job["error"], items)

    async def list(self, account_id: str | None = None, *, state: str | None = None,
                   limit: int = 50, offset: int = 0) -> tuple[list[JobView], int]:
        """Newest first, with their items; returns (jobs, total matching)."""
        if state is not None and state not in STATES:
            raise InvalidInput(f"unknown job state {state!r}", field="state")
        limit = max(1, min(limit or 50, 500))
        async with self._pool.acquire() as conn:
            where = "($1::text IS NULL OR account_id = $1) AND ($2::text IS NULL OR state = $2)"
            total = await conn.fetchval(f"SELECT count(*) FROM jobs WHERE {where}",
                                        account_id, state)
            jobs = await conn.fetch(f"SELECT * FROM jobs WHERE {where} ORDER BY created_at DESC,"
                                    " id LIMIT $3 OFFSET $4", account_id, state, limit, offset)
            items = await conn.fetch("SELECT * FROM job_items WHERE job_id = ANY($1::uuid[])"
                                     " ORDER BY seq", [j["id"] for j in jobs])
        by_job: dict[Any, list[JobItemView]] = {}
        for r in items:
            by_job.setdefault(r["job_id"], []).append(_item_view(r))
        return [self._view(j, by_job.get(j["id"], [])) for j in jobs], int(total)

    async def cancel(self, job_id: str, account_id: str | None = None) -> JobView:
        """Cancel queued and running items; running workers stop before their next chunk."""
        view = await self.get(job_id, account_id)
        if view.state in TERMINAL:
            raise PreconditionFailed(f"job {job_id} is already {view.state}", field="job_id")
        jid = uuid.UUID(job_id)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE jobs SET state = 'cancelled', finished_at = now()"
                               " WHERE id = $1 AND state IN ('queued', 'running')", jid)
            await conn.execute("UPDATE job_items SET state = 'cancelled', finished_at = now(),"
                               " lease_owner = NULL WHERE job_id = $1"
                               " AND state IN ('queued', 'running')", jid)
        return await self.get(job_id, account_id)

    async def requeue_failed(self) -> int:
        """Queue again every item that failed on transient errors after its retry window (the
        daily update calls this); their jobs reopen unless cancelled. Returns the item count."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE job_items i SET state = 'queued', retryable = false, error = '',"
                " retry_until = NULL, next_try_at = NULL, transient_errors = 0,"
                " finished_at = NULL FROM jobs j WHERE j.id = i.job_id AND i.state = 'failed'"
                " AND i.retryable AND j.state <> 'cancelled' RETURNING i.job_id")
            jobs = sorted({r["job_id"] for r in rows})
            if jobs:
                await conn.execute("UPDATE jobs SET state = 'queued', finished_at = NULL,"
                                   " error = '' WHERE id = ANY($1::uuid[])", jobs)
        if rows:
            log.info("requeued %d failed job items in %d jobs", len(rows), len(jobs))
            self._wake.set()
        return len(rows)

    # --- workers ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        self._tasks = [asyncio.create_task(self._worker(n), name=f"job-worker-{n}")
                       for n in range(self._concurrency)]

    async def stop(self) -> None:
        """Stop claiming; cancel running items' tasks. Their leases lapse and another replica
        (or this one after restart) resumes them from the cursor."""
        self._stopping = True
        self._wake.set()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def run_until_idle(self) -> int:
        """Run claimable items with the configured concurrency until none is left (tests,
        one-shot CLI). Returns the number of items run."""
        count = 0

        async def drain() -> None:
            nonlocal count
            while (item := await self._claim()) is not None:
                count += 1
                await self._run(item)

        await asyncio.gather(*(drain() for _ in range(self._concurrency)))
        return count

    async def _worker(self, n: int) -> None:
        while not self._stopping:
            try:
                item = await self._claim()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("job worker %d: claim failed: %s", n, exc)
                item = None
            if item is None:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self._poll_s)
                except TimeoutError:
                    pass
                continue
            await self._run(item)

    async def _claim(self) -> asyncpg.Record | None:
        async with self._pool.acquire() as conn, conn.transaction():
            item = await conn.fetchrow(
                "WITH c AS (SELECT i.job_id, i.seq FROM job_items i JOIN jobs j ON j.id = i.job_id"
                " WHERE j.state IN ('queued', 'running') AND ((i.state = 'queued'"
                " AND (i.next_try_at IS NULL OR i.next_try_at <= now())) OR"
                " (i.state = 'running' AND i.lease_until < now()))"
                " ORDER BY (SELECT count(*) FROM job_items r JOIN jobs rj ON rj.id = r.job_id"
                "  WHERE r.state = 'running' AND r.lease_until >= now()"
                "  AND rj.account_id = j.account_id), j.created_at, i.seq"
                " LIMIT 1 FOR UPDATE OF i SKIP LOCKED)"
                " UPDATE job_items i SET state = 'running', lease_owner = $1,"
                " lease_until = now() + make_interval(secs => $2), attempts = i.attempts + 1,"
                " started_at = coalesce(i.started_at, now())"
                " FROM c WHERE i.job_id = c.job_id AND i.seq = c.seq RETURNING i.*",
                self.worker_id, self._lease_s)
            if item is not None:
                await conn.execute("UPDATE jobs SET state = 'running', started_at ="
                                   " coalesce(started_at, now()) WHERE id = $1"
                                   " AND state = 'queued'", item["job_id"])
        return item

    async def _owned(self, conn: asyncpg.Connection, item: asyncpg.Record, sql: str,
                     *args: Any) -> bool:
        """Run an UPDATE on the item only while this worker still holds it."""
        status = await conn.execute(
            f"UPDATE job_items SET {sql} WHERE job_id = $1 AND seq = $2 AND lease_owner = $3"
            " AND state = 'running'", item["job_id"], item["seq"], self.worker_id, *args)
        return status != "UPDATE 0"

    async def _run(self, item: asyncpg.Record) -> None:
        lost = asyncio.Event()
        beat = asyncio.create_task(self._heartbeat(item, lost))
        base = (item["requests_done"], item["rows_stored"], item["rows_fetched"],
                item["rows_invalid"])
        base_issues: dict[str, int] = json.loads(item["issues"])

        async def progress(p: FetchProgress) -> None:
            issues = dict(base_issues)
            for k, v in p.issues.items():
                issues[k] = issues.get(k, 0) + v
            async with self._pool.acquire() as conn:
                ok = await self._owned(
                    conn, item, "requests_done = $4, requests_total = $5, rows_stored = $6,"
                    " rows_fetched = $7, rows_invalid = $8, cursor = $9, issues = $10,"
                    " lease_until = now() + make_interval(secs => $11)"
                    + (", retry_until = NULL, transient_errors = 0" if p.requests_done else ""),
                    base[0] + p.requests_done, base[0] + p.requests_total, base[1] + p.rows_stored,
                    base[2] + p.rows_fetched, base[3] + p.rows_invalid, p.cursor,
                    json.dumps(issues), self._lease_s)
            if not ok:
                lost.set()

        try:
            inst = await self._master.get(item["instrument_token"])
            summary = await self._fetcher.fetch(
                inst, parse_interval(item["interval"]), item["range_from"], item["range_to"],
                FetchOptions.from_json(json.loads(item["options"])), cursor=item["cursor"],
                on_progress=progress, should_stop=lost.is_set)
            state, error = ("cancelled", "") if summary.cancelled else ("done", "")
        except TemporaryError as exc:  # 429 / 5xx / timeout / network: back off, try again
            state, error = "retry", f"{type(exc).__name__}: {exc.message}"
        except MandiError as exc:
            state, error = "failed", f"{type(exc).__name__}: {exc.message}"
        except asyncio.CancelledError:
            beat.cancel()
            raise
        except Exception as exc:  # a bug must fail the item, not kill the worker
            log.exception("job item %s/%s crashed", item["job_id"], item["seq"])
            state, error = "failed", f"internal error: {type(exc).__name__}"
        finally:
            beat.cancel()
        await self._finish(item, state, error)

    async def _heartbeat(self, item: asyncpg.Record, lost: asyncio.Event) -> None:
        while not lost.is_set():
            await asyncio.sleep(self._lease_s / 3)
            try:
                async with self._pool.acquire() as conn:
                    ok = await self._owned(conn, item, "lease_until = now() +"
                                           " make_interval(secs => $4)", self._lease_s)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("lease renewal failed: %s", exc)
                continue
            if not ok:  # cancelled, or the lease was taken over
                lost.set()

    async def _finish(self, item: asyncpg.Record, state: str, error: str) -> None:
        ended = await self._record_finish(item, state, error)
        if ended is not None:
            metrics.JOB_ITEMS.labels(ended).inc()

    def _retry_delay(self, transient_errors: int) -> float:
        """Seconds before the next try after `transient_errors` in a row: half the capped
        exponential step plus a random half (never 0, spread across replicas)."""
        cap = min(self._retry_max_s, self._retry_base_s * 2 ** min(transient_errors, 30))
        return cap / 2 + random.uniform(0, cap / 2)

    async def _record_retry(self, conn: asyncpg.Connection, item: asyncpg.Record,
                            error: str) -> str | None:
        """Queue the item again after a backoff, or fail it (retryable) once its retry window
        has passed. Returns the new state, or None when the item was no longer ours."""
        row = await conn.fetchrow(
            "SELECT transient_errors, coalesce(retry_until, now() + make_interval(secs => $4))"
            " > now() AS within FROM job_items WHERE job_id = $1 AND seq = $2"
            " AND lease_owner = $3 AND state = 'running' FOR UPDATE",
            item["job_id"], item["seq"], self.worker_id, self._retry_window_s)
        if row is None:
            return None
        state = "queued" if row["within"] else "failed"
        await conn.execute(
            "UPDATE job_items SET state = $3, error = $4, lease_owner = NULL,"
            " transient_errors = transient_errors + 1, retryable = ($3 = 'failed'),"
            " retry_until = coalesce(retry_until, now() + make_interval(secs => $5)),"
            " next_try_at = now() + make_interval(secs => $6),"
            " finished_at = CASE WHEN $3 = 'failed' THEN now() END"
            " WHERE job_id = $1 AND seq = $2", item["job_id"], item["seq"], state, error,
            self._retry_window_s, self._retry_delay(row["transient_errors"]))
        if state == "queued":
            log.warning("job item %s/%s: %s; retry %d", item["job_id"], item["seq"], error,
                        row["transient_errors"] + 1)
        return state

    async def _record_finish(self, item: asyncpg.Record, state: str, error: str) -> str | None:
        """Record the item's end and, when it was the last open item, the job's. Returns the
        state this worker ended the item in, or None when the item was no longer ours (the
        lease was taken over: the new owner will end it)."""
        async with self._pool.acquire() as conn, conn.transaction():
            if state == "retry":
                retried = await self._record_retry(conn, item, error)
                if retried != "failed":
                    return retried and "retried"
                state, owned = "failed", True
            elif state != "cancelled":
                owned = await self._owned(conn, item, "state = $4, error = $5,"
                                          " finished_at = now(), lease_owner = NULL",
                                          state, error)
                if owned and state == "done":
                    await conn.execute(
                        "INSERT INTO tracked (instrument_token, interval, account_id,"
                        " last_fetched_at) SELECT $1, $2, account_id, now() FROM jobs"
                        " WHERE id = $3 ON CONFLICT (instrument_token, interval) DO UPDATE"
                        " SET last_fetched_at = now()", item["instrument_token"],
                        item["interval"], item["job_id"])
            else:  # stopped by a cancel (state already 'cancelled') or by losing the lease
                owned = await conn.fetchval(
                    "SELECT state = 'cancelled' FROM job_items WHERE job_id = $1 AND seq = $2",
                    item["job_id"], item["seq"])
            ended = state if owned else None
            job = await conn.fetchrow("SELECT state, kind, account_id FROM jobs WHERE id = $1"
                                      " FOR UPDATE", item["job_id"])
            counts = dict(await conn.fetch("SELECT state, count(*) FROM job_items"
                                           " WHERE job_id = $1 GROUP BY state", item["job_id"]))
            if job["state"] in TERMINAL or counts.get("queued") or counts.get("running"):
                return ended
            failed, ok = counts.get("failed", 0), counts.get("done", 0)
            final = "failed" if failed and not ok else "done"
            msg = f"{failed} of {failed + ok} items failed" if failed else ""
            await conn.execute("UPDATE jobs SET state = $2, finished_at = now(), error = $3"
                               " WHERE id = $1", item["job_id"], final, msg)
        log.info("job %s finished: %s", item["job_id"], final)
        if self._notify is not None:
            self._notify("fetch_failed" if final == "failed" else "fetch_finished", {
                "job_id": str(item["job_id"]), "job_kind": job["kind"],
                "account_id": job["account_id"], "items": failed + ok, "failed": failed,
                "error": msg})
        return ended
