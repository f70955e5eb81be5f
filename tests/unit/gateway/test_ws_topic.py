"""The WebSocket topic: numbering, the replay buffer's answer to `since`, bounded queues."""

from __future__ import annotations

import json

import pytest

from services.gateway.ws import metrics
from services.gateway.ws.topic import Subscriber, Topic


def test_messages_are_numbered_one_by_one_and_encoded_once() -> None:
    topic = Topic("orders", "A", replay=10)
    first = topic.seq
    subs = [Subscriber("orders", 10), Subscriber("orders", 10)]
    for s in subs:
        topic.attach(s)
    assert topic.publish("order", {"n": 1}) == first + 1
    assert topic.publish("order", {"n": 2}) == first + 2
    a, b = (s.queue.get_nowait() for s in subs)
    assert a is b  # one encoding shared by every socket
    assert json.loads(a) == {"channel": "orders", "type": "order", "seq": first + 1,
                             "data": {"n": 1}}


def test_since_replays_exactly_what_was_missed_or_asks_for_a_snapshot() -> None:
    topic = Topic("orders", "A", replay=3)
    base = topic.seq
    assert topic.missed_since(base) == []  # nothing happened
    assert topic.missed_since(base - 1) is None  # never issued here
    for n in range(5):
        topic.publish("order", {"n": n})  # base+1 .. base+5; the buffer holds base+3 .. base+5
    assert [json.loads(t)["seq"] for t in topic.missed_since(base + 2)] == \
        [base + 3, base + 4, base + 5]
    assert [json.loads(t)["data"]["n"] for t in topic.missed_since(base + 4)] == [4]
    assert topic.missed_since(base + 5) == []
    assert topic.missed_since(base + 1) is None  # base+2 is gone from the buffer
    assert topic.missed_since(base + 6) is None  # from the future: another process's seq
    assert topic.missed_since(0) is None


def test_a_full_queue_detaches_only_that_subscriber_and_counts_a_drop() -> None:
    topic = Topic("orders", "A", replay=10)
    slow, fast = Subscriber("orders", 2), Subscriber("orders", 100)
    topic.attach(slow)
    topic.attach(fast)
    drops = metrics.DROPS.labels("orders")
    before = drops._value.get()
    for n in range(5):
        topic.publish("order", {"n": n})
    assert slow.overflowed.is_set() and slow.queue.qsize() == 2
    assert topic.subscribers == {fast} and fast.queue.qsize() == 5
    assert drops._value.get() == before + 1


@pytest.mark.parametrize("since", [0, 1])
def test_a_new_topics_numbers_start_at_its_creation_time(since: int) -> None:
    """A `since` from an earlier process (small, or of another topic's clock) is never taken
    for one of this topic's numbers."""
    topic = Topic("orders", "A", replay=10)
    assert topic.seq > 1_700_000_000 * 10**6
    assert topic.missed_since(since) is None
