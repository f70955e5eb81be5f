"""A history process killed with SIGKILL mid-batch, for real: kitesim as a process, one
history process on a fresh database, a batch of multi-request items queued over gRPC. Once
items are part-way and bars are stored, the process is killed; a new one on the same database
reclaims the dead worker's items when their lease lapses (MANDI_HISTORY_LEASE_S, short here)
and resumes each from its cursor. The job ends done with exactly the bars kitesim serves — none
missing, none extra — and no chunk recorded as done is requested again.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timedelta

import pytest

from mandi.core.clock import IST
from mandi.testing.kitesim import kitesim_process
from mandi.testing.services import service_process
from mandi.v1 import common_pb2, history_pb2
from tests.e2e.history.kit import (
    batch_item,
    db_fetch,
    fresh_db,
    history_env,
    history_stub,
    nse_equities,
    own_api_key,
)

pytestmark = pytest.mark.e2e

SIM_START = "2026-03-02T15:45:00+05:30"
# 60-minute bars: Kite allows 400 days a request, so each item is two requests (~1,900 and
# ~1,000 bars). kitesim computes a day's path on first touch and caches 8,192 instrument-days;
# ten symbols over these ~410 sessions stay cached, so counting them afterwards is quick.
START = datetime(2024, 7, 1, tzinfo=IST)
END = datetime(2026, 2, 28, tzinfo=IST)
CHUNKS = 2
SYMBOLS = 10  # 20 requests: over 10 s of fetching and storing for one process
# Counted in spans aligned to END, not to START like the fetcher's chunks, so a boundary
# mistake there cannot hide here.
SPANS = [(START, END - timedelta(days=400)), (END - timedelta(days=400), END)]


def kitesim_bars(sim, token: int) -> int:
    """How many 60-minute bars kitesim serves for [START, END)."""
    total = 0
    for frm, to in SPANS:
        q = f"from={frm:%Y-%m-%d}+00:00:00&to={to - timedelta(days=1):%Y-%m-%d}+23:59:59"
        total += len(sim.raw(f"/instruments/historical/{token}/60minute?{q}")["data"]["candles"])
    return total


def _job(stub, job_id: str) -> history_pb2.Job:
    return stub.GetJob(history_pb2.GetJobRequest(job_id=job_id), timeout=10).job


def test_history_when_killed_mid_batch_a_new_process_resumes_to_exactly_kitesims_bars(
    tmp_path,
) -> None:
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(kitesim_process("--start", SIM_START, seed=11,
                                                  env=own_api_key()))
        dsn = stack.enter_context(fresh_db())
        env = history_env(sim, dsn, MANDI_HISTORY_CONCURRENCY="2", MANDI_HISTORY_LEASE_S="3")
        symbols = nse_equities(sim, SYMBOLS)

        first = stack.enter_context(service_process("history", env, tmp_path))
        with history_stub(first) as stub:
            job = stub.FetchBatch(history_pb2.FetchBatchRequest(
                items=[batch_item(s, "60minute", START, END) for s in symbols],
                options=history_pb2.FetchOptions(validate=True)), timeout=60).job
            assert job.requests_total == SYMBOLS * CHUNKS
            deadline = time.monotonic() + 60
            while not (job.requests_done >= 4 and any(
                    i.state == common_pb2.JOB_STATE_RUNNING and
                    0 < i.requests_done < i.requests_total for i in job.items)):
                assert time.monotonic() < deadline, f"no progress: {job}"
                time.sleep(0.05)
                job = _job(stub, job.id)
        first.kill()  # SIGKILL: no drain, leases left to lapse

        at_kill = db_fetch(dsn, "SELECT seq, state, requests_done FROM job_items")
        running = {r["seq"] for r in at_kill if r["state"] == "running"}
        partial = {r["seq"] for r in at_kill if r["state"] == "running" and r["requests_done"]}
        assert partial and sum(r["state"] == "done" for r in at_kill) < SYMBOLS
        assert db_fetch(dsn, "SELECT count(*) AS n FROM ohlcv")[0]["n"] > 0

        second = stack.enter_context(service_process("history", env, tmp_path))
        with history_stub(second) as stub:
            deadline = time.monotonic() + 90
            while (job := _job(stub, job.id)).state == common_pb2.JOB_STATE_RUNNING:
                assert time.monotonic() < deadline, f"job stuck: {job}"
                assert second.proc.poll() is None, second.log()[-3000:]
                time.sleep(0.2)

        assert job.state == common_pb2.JOB_STATE_DONE, job
        assert all(i.state == common_pb2.JOB_STATE_DONE for i in job.items), job
        # Resumed from the cursor, not from the start: no item spent more than its 4 requests.
        assert [(i.requests_done, i.requests_total) for i in job.items] == \
            [(CHUNKS, CHUNKS)] * SYMBOLS
        attempts = {r["seq"]: r["attempts"] for r in db_fetch(
            dsn, "SELECT seq, attempts FROM job_items")}
        assert {s for s, a in attempts.items() if a == 2} == running  # reclaimed after the lease
        assert set(attempts.values()) <= {1, 2}

        stored = {(r["instrument_token"], r["interval"]): r["n"] for r in db_fetch(
            dsn, "SELECT instrument_token, interval, count(*) AS n FROM ohlcv GROUP BY 1, 2")}
        sim.admin("ratelimit", {"enabled": False})  # the history process is idle now
        sim.login()
        served = {(token, "60minute"): kitesim_bars(sim, token) for token in symbols.values()}
        assert stored == served
        assert min(served.values()) > 2500
        print(f"crash-resume: killed with {len(running)} items running ({len(partial)} part-way),"
              f" resumed to {sum(stored.values())} bars = kitesim's")
