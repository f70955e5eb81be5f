"""GroupCommit's batching, which the BotStore integration test cannot see (it checks only that
every save lands, which one transaction per save would pass too): writes queued together go in
one batch, a key never twice in a batch and its items in order, what arrives during a write goes
in the next batch, and a bad item fails alone."""

from __future__ import annotations

import asyncio

import pytest

from services.strategy.group_commit import GroupCommit


class Sink:
    def __init__(self, bad: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.bad = bad
        self.gate: asyncio.Event | None = None

    async def write(self, batch: list[str]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.bad in batch:
            raise ValueError(f"cannot write {self.bad}")
        self.batches.append(list(batch))


async def test_items_submitted_together_share_one_write() -> None:
    sink = Sink()
    gc = GroupCommit(sink.write, key=lambda s: s, name="t")
    await asyncio.gather(*(gc.submit(f"b{k}") for k in range(20)))
    assert sink.batches == [[f"b{k}" for k in range(20)]]


async def test_one_key_never_twice_in_a_batch_and_in_submission_order() -> None:
    sink = Sink()
    gc = GroupCommit(sink.write, key=lambda s: s.split(".")[0], name="t")
    await asyncio.gather(*(gc.submit(s) for s in ("a.1", "b.1", "a.2", "a.3")))
    assert sink.batches == [["a.1", "b.1"], ["a.2"], ["a.3"]]


async def test_items_arriving_during_a_write_go_in_the_next_batch() -> None:
    sink = Sink()
    sink.gate = asyncio.Event()
    gc = GroupCommit(sink.write, key=lambda s: s, name="t")
    first = asyncio.create_task(gc.submit("x"))
    await asyncio.sleep(0)  # the writer takes ["x"] and waits on the gate
    await asyncio.sleep(0)
    later = [asyncio.create_task(gc.submit(f"y{k}")) for k in range(5)]
    await asyncio.sleep(0)
    sink.gate.set()
    await asyncio.gather(first, *later)
    assert sink.batches == [["x"], [f"y{k}" for k in range(5)]]


async def test_a_bad_item_fails_only_its_own_caller() -> None:
    sink = Sink(bad="b3")
    gc = GroupCommit(sink.write, key=lambda s: s, name="t")
    items = [f"b{k}" for k in range(6)]
    results = await asyncio.gather(*(gc.submit(s) for s in items), return_exceptions=True)
    failed = [s for s, r in zip(items, results, strict=True) if isinstance(r, Exception)]
    assert failed == ["b3"]
    with pytest.raises(ValueError, match="b3"):
        raise results[3]  # type: ignore[misc]
    written = [s for b in sink.batches for s in b]
    assert sorted(written) == [s for s in items if s != "b3"]
