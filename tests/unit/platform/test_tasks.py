"""cancel_and_wait stops a task and never swallows its caller's own cancellation (the pattern it
replaces, `task.cancel(); with suppress(CancelledError): await task`, did: a replica's lease
task cancelled while it waited for its bot's task ran on, and stopping the replica hung)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from mandi.platform.tasks import cancel_and_wait

pytestmark = pytest.mark.asyncio


async def _stubborn(release: asyncio.Event) -> None:
    """A child that takes a while to end once cancelled (cleanup under way)."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        await release.wait()
        raise


async def _parent(helper, release: asyncio.Event, after: list[str]) -> None:
    child = asyncio.create_task(_stubborn(release))
    await asyncio.sleep(0)
    await helper(child)
    after.append("ran on after being cancelled")
    await asyncio.Event().wait()  # a loop that would never end


async def _old(child: asyncio.Task) -> None:
    child.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await child


@pytest.mark.parametrize(("helper", "stops"), [(cancel_and_wait, True), (_old, False)])
async def test_the_callers_cancellation_while_it_waits_is_passed_on(helper, stops) -> None:
    release, after = asyncio.Event(), []
    parent = asyncio.create_task(_parent(helper, release, after))
    await asyncio.sleep(0.01)  # the parent waits for its child's cleanup
    parent.cancel()
    release.set()
    done, _ = await asyncio.wait([parent], timeout=0.5)
    assert bool(done) is stops, after
    assert (after == []) is stops
    if not stops:
        parent.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await parent


async def test_a_child_ending_with_an_error_is_waited_for_and_logged(caplog) -> None:
    async def fails() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    child = asyncio.create_task(fails(), name="child")
    await asyncio.sleep(0)
    await cancel_and_wait(child)
    assert child.done() and "child" in caplog.text


async def test_a_cancellation_swallowed_below_is_still_seen_by_the_loop() -> None:
    """A library turning the cancellation into its own error (seen with the Redis client under
    load) leaves it pending: `cancel_pending` lets the loop above stop anyway."""
    from mandi.platform.tasks import cancel_pending

    turns = []

    async def loop() -> None:
        while True:
            if cancel_pending():
                raise asyncio.CancelledError
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                turns.append("swallowed")  # as a library's `except` would

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=1)
    assert done and task.cancelled() and turns == ["swallowed"]
