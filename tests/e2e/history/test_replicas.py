"""Two history replicas under one Kite rate limit, for real: kitesim as a process with its limits
on (historical 3 req/s, sliding one-second window, 429 "Too many requests" beyond), one
database, real Redis, and two `python -m services.history` processes sharing the API key.

One batch of 60 single-request items (12 NSE symbols × 5 sessions of minute bars) is queued
through gRPC FetchBatch; both replicas' workers claim items concurrently. The shared Redis
bucket must keep the two together under kitesim's limit — no 429 at all — while still spending
nearly all of it (≥ 2.7 req/s). Items are one session each (375 bars) rather than 60-day chunks
because the kiteconnect client parses every row's date with dateutil (~0.2 ms a row): a 60-day
minute chunk costs a replica ~2.5 s of CPU, which would make the test measure the client's
parser instead of the limiter.
"""

from __future__ import annotations

import contextlib
import time
from datetime import date, datetime, timedelta

import pytest

from mandi.core.calendar import trading_days
from mandi.core.clock import IST
from mandi.testing.kitesim import kitesim_process
from mandi.v1 import common_pb2, history_pb2
from tests.e2e.history.kit import (
    batch_item,
    fresh_db,
    history_env,
    history_stub,
    metric,
    nse_equities,
    own_api_key,
    scrape,
    start_together,
)

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

SIM_START = "2026-03-02T15:45:00+05:30"  # a Monday after the close
SESSIONS = trading_days(date(2026, 2, 16), date(2026, 2, 27))[-5:]
SYMBOLS = 12
BARS_PER_SESSION = 375


def _day(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), IST)


def test_two_replicas_when_one_batch_share_the_kite_limit_without_429_at_full_speed(
    tmp_path,
) -> None:
    key = own_api_key()
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(kitesim_process("--start", SIM_START, seed=7, env=key))
        dsn = stack.enter_context(fresh_db())
        env = history_env(sim, dsn, MANDI_HISTORY_CONCURRENCY="2")
        replicas = start_together(stack, 2, env, tmp_path)
        symbols = nse_equities(sim, SYMBOLS)
        assert len(symbols) == SYMBOLS
        items = [batch_item(s, "minute", _day(d), _day(d) + timedelta(days=1))
                 for s in symbols for d in SESSIONS]

        with history_stub(replicas[0]) as stub:
            job = stub.FetchBatch(history_pb2.FetchBatchRequest(
                items=items, options=history_pb2.FetchOptions(validate=True)), timeout=60).job
            assert job.requests_total == len(items) == SYMBOLS * len(SESSIONS) == 60
            deadline = time.monotonic() + 120
            while job.state in (common_pb2.JOB_STATE_QUEUED, common_pb2.JOB_STATE_RUNNING):
                assert time.monotonic() < deadline, f"batch stuck: {job}"
                for r in replicas:
                    assert r.proc.poll() is None, r.log()[-3000:]
                time.sleep(0.25)
                job = stub.GetJob(history_pb2.GetJobRequest(job_id=job.id), timeout=10).job

            assert job.state == common_pb2.JOB_STATE_DONE, job
            assert all(i.state == common_pb2.JOB_STATE_DONE and i.rows_invalid == 0
                       for i in job.items)
            samples = [scrape(r) for r in replicas]
            per_replica = [metric(s, "mandi_history_kite_requests_total") for s in samples]
            n = int(sum(per_replica))
            k = int(sum(metric(s, "mandi_history_kite_rate_limited_total") for s in samples))
            retries = sum(metric(s, "mandi_history_kite_retries_total") for s in samples)
            items_done = sum(metric(s, "mandi_history_job_items_total", state="done")
                             for s in samples)
            t = (job.finished_at.ToDatetime() - job.started_at.ToDatetime()).total_seconds()
            rate = n / t
            print(f"replicas: {n} requests in {t:.1f}s = {rate:.2f} req/s, 429s: {k}"
                  f" (per replica {per_replica})")

            assert all(c > 0 for c in per_replica), per_replica
            assert n >= len(items) and job.requests_done == n
            assert k == 0 and retries == 0
            assert items_done == len(items)
            assert rate >= 2.7

            # Stored = what kitesim serves: every expected session bar, none missing, for each
            # symbol (coverage), and for a spot check the count kitesim itself answers.
            first, end = _day(SESSIONS[0]), _day(SESSIONS[-1]) + timedelta(days=1)
            bars: dict[str, int] = {}
            for s in symbols:
                ref = batch_item(s, "minute", first, end)
                cov = stub.GetCoverage(history_pb2.GetCoverageRequest(
                    instrument=ref.instrument, interval="minute",
                    **{"from": getattr(ref, "from"), "to": ref.to}), timeout=10)
                assert cov.missing_sessions == 0 and cov.sessions == len(SESSIONS), (s, cov)
                bars[s] = cov.bars
            assert set(bars.values()) == {len(SESSIONS) * BARS_PER_SESSION}
            assert sum(bars.values()) == job.rows_stored

        kite = sim.kite()
        time.sleep(1.1)  # the replicas' last requests may still fill kitesim's 1 s window
        for s in list(symbols)[::SYMBOLS - 1]:  # two requests: well inside kitesim's 3/s
            served = kite.historical_data(symbols[s], SESSIONS[0].isoformat(),
                                          SESSIONS[-1].isoformat() + " 23:59:59", "minute")
            assert len(served) == bars[s], s
