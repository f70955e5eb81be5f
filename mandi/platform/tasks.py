"""Stopping asyncio tasks without losing a cancellation.

Python 3.11's `asyncio.wait_for` can return a result and drop a cancellation that arrives as
its awaitable completes (fixed in 3.12); `asyncio.timeout` does not, so loops that must stop
when cancelled use it. And `with suppress(CancelledError): await child` after
`child.cancel()` also swallows a cancellation of the *caller* that lands while it waits: the
caller then runs on, and whoever cancelled it waits forever. `cancel_and_wait` passes that one
on."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task) -> None:
    """Cancel `task` and wait until it has ended, whatever its outcome (an error it ended with
    is logged). The caller's own cancellation while waiting is raised, not swallowed."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception:
        log.exception("task %s ended with an error while being stopped", task.get_name())


def cancel_pending() -> bool:
    """True when the running task has a cancellation requested that it has not acted on: one a
    library swallowed on the way up (turned into its own timeout or connection error, seen
    under load with the Redis client). A loop that checks this at the top of each turn still
    stops when told to."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def task_stacks(limit: int = 8) -> list[str]:
    """Where every other task of the running loop is ("name (cancelling=N): file:line fn < …",
    outermost first): the evidence when a task told to stop runs on."""
    out = []
    for t in asyncio.all_tasks():
        if t is asyncio.current_task():
            continue
        where = " < ".join(f"{f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_lineno}"
                           f" {f.f_code.co_name}" for f in t.get_stack(limit=limit)) or "?"
        out.append(f"{t.get_name()} (cancelling={t.cancelling()}): {where}")
    return sorted(out)
