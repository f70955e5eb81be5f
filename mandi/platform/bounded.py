"""Bounding in-process caches (plain dicts, which keep insertion order)."""

from __future__ import annotations

from itertools import islice
from typing import Any


def drop_oldest(cache: dict[Any, Any], limit: int) -> None:
    """Past `limit` entries, drop the oldest half of them (by first insertion): the entries
    still in use stay, so a full cache costs a few misses instead of a pass that finds
    nothing cached."""
    if len(cache) <= limit:
        return
    for key in list(islice(cache, len(cache) - limit // 2)):
        del cache[key]
