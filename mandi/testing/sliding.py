"""Counting requests in sliding windows, for tests that check a rate limit from a record of
instants (a limiter's grants, or the instants kitesim admitted requests at)."""

from __future__ import annotations

from collections.abc import Iterable


def busiest_window(instants: Iterable[float], seconds: float) -> int:
    """The most instants inside any window (t - seconds, t]: the largest j - i + 1 with
    t[j] - t[i] < seconds over the sorted instants (the way Kite and kitesim count)."""
    ts = sorted(instants)
    best = i = 0
    for j, t in enumerate(ts):
        while t - ts[i] >= seconds:
            i += 1
        best = max(best, j - i + 1)
    return best
