"""A channel's stream of messages in one gateway process: numbered, kept for replay, fanned out.

A Topic (e.g. the orders of one account) numbers every message it publishes with `seq`, one more
than the last. Its first seq is the creation time in microseconds, so a `since` a client kept
from an earlier gateway process (or another replica) is older than anything here and earns a
fresh snapshot instead of a wrong replay. The last `replay` messages are kept: a client that
resumes with `?since=` inside them gets exactly what it missed.

Every message is encoded to JSON once and the same text is queued for every socket. Each socket
has a bounded queue (`Subscriber`); a socket whose queue is full is dropped from the topic at
once (its session closes it with 1013), so a slow client never makes the process hold more.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

from services.gateway.ws import metrics


def encode(channel: str, type_: str, seq: int, data: Any) -> str:
    return json.dumps({"channel": channel, "type": type_, "seq": seq, "data": data},
                      separators=(",", ":"), default=str)


class Subscriber:
    """One socket's queue of encoded messages; `overflowed` once it could not keep up."""

    def __init__(self, channel: str, limit: int) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[str] = asyncio.Queue(limit)
        self.overflowed = asyncio.Event()

    def offer(self, text: str) -> bool:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            metrics.DROPS.labels(self.channel).inc()
            self.overflowed.set()
            return False
        return True


class Topic:
    def __init__(self, channel: str, key: str, replay: int) -> None:
        self.channel, self.key = channel, key
        self.seq = time.time_ns() // 1000
        self.buffer: deque[tuple[int, str]] = deque(maxlen=replay)
        self.subscribers: set[Subscriber] = set()

    def publish(self, type_: str, data: Any) -> int:
        self.seq += 1
        text = encode(self.channel, type_, self.seq, data)
        self.buffer.append((self.seq, text))
        for sub in list(self.subscribers):
            if not sub.offer(text):
                self.subscribers.discard(sub)
        return self.seq

    def missed_since(self, since: int) -> list[str] | None:
        """The messages after `since`, or None when they are not all here any more (or
        `since` was never issued here): the client needs a fresh snapshot."""
        if since == self.seq:
            return []
        if since > self.seq or not self.buffer or since < self.buffer[0][0] - 1:
            return None
        return [text for seq, text in self.buffer if seq > since]

    def attach(self, sub: Subscriber) -> None:
        self.subscribers.add(sub)

    def detach(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
