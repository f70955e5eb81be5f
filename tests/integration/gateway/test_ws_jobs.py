"""`/ws/jobs/{job_id}` with the real `websockets` client against the real gateway, history
service and kitesim: a fetch job's record as the snapshot, then its progress as kitesim's
(slowed) answers arrive, up to the final state; an unknown job is 4404, no credential 4401."""

from __future__ import annotations

import uuid

import pytest
import websockets

from tests.integration.gateway.ws_kit import close_code, next_message, slow_fetch_job, until

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def _ws(base: str, path: str, token: str | None) -> str:
    return f"{base}{path}" + (f"?token={token}" if token else "")


async def test_a_fetch_jobs_progress_arrives_until_it_is_done(stack) -> None:
    async with slow_fetch_job(stack) as (token, job_id, base):
        async with websockets.connect(_ws(base, f"/ws/jobs/{job_id}", token)) as ws:
            snap = await next_message(ws)
            assert snap["channel"] == "jobs" and snap["type"] == "snapshot"
            assert snap["data"]["job_id"] == job_id
            got = await until(ws, lambda m: m["data"]["state"] in ("done", "failed"), 60)
    progress = [m["data"] for m in got if m["type"] == "progress"]
    assert progress[-1]["state"] == "done" and progress[-1]["rows_stored"] > 0
    done = [p["requests_done"] for p in progress]
    assert done == sorted(done) and len(set(done)) >= 2  # seen while it ran, not just at the end
    assert [m["seq"] for m in got] == list(range(snap["seq"] + 1, snap["seq"] + 1 + len(got)))
    unknown = str(uuid.uuid4())
    assert await close_code(_ws(base, f"/ws/jobs/{unknown}", token)) == 4404
    # a malformed id: 4400, naming it
    assert await close_code(_ws(base, "/ws/jobs/not-a-job-id", token)) == 4400
    assert await close_code(_ws(base, f"/ws/jobs/{job_id}", None)) == 4401
