"""Full-jitter backoff retries only what it is told to, within bounded delays."""

from __future__ import annotations

import random

import pytest

from mandi.core.errors import AuthError, TemporaryError
from mandi.platform.retry import backoff_delay, retry


class Flaky:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


async def test_retry_when_temporary_failures_then_success_returns_result() -> None:
    fn = Flaky([TemporaryError("a"), TemporaryError("b")])
    sleeps: list[float] = []
    seen: list[tuple[int, str, float]] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    result = await retry(
        fn,
        attempts=5,
        base_delay_s=0.1,
        max_delay_s=1.0,
        retry_on=(TemporaryError,),
        on_retry=lambda n, exc, d: seen.append((n, str(exc), d)),
        sleep=sleep,
    )
    assert result == "ok" and fn.calls == 3
    assert [n for n, _, _ in seen] == [1, 2] and [e for _, e, _ in seen] == ["a", "b"]
    assert sleeps == [d for _, _, d in seen]
    assert 0 <= sleeps[0] <= 0.1 and 0 <= sleeps[1] <= 0.2


async def test_retry_does_not_retry_other_errors() -> None:
    fn = Flaky([AuthError("expired token")])
    with pytest.raises(AuthError):
        await retry(fn, attempts=5, base_delay_s=0, max_delay_s=0, retry_on=(TemporaryError,))
    assert fn.calls == 1


async def test_retry_when_attempts_exhausted_raises_last_error() -> None:
    fn = Flaky([TemporaryError(str(i)) for i in range(3)])

    async def on_retry(n: int, exc: BaseException, d: float) -> None:  # async hooks work too
        pass

    with pytest.raises(TemporaryError, match=r"^2$"):
        await retry(
            fn,
            attempts=3,
            base_delay_s=0,
            max_delay_s=0,
            retry_on=(TemporaryError,),
            on_retry=on_retry,
        )
    assert fn.calls == 3


def test_backoff_delay_is_full_jitter_capped_exponential() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        cap = min(5.0, 0.5 * 2**attempt)
        samples = [backoff_delay(attempt, 0.5, 5.0, rng) for _ in range(200)]
        assert all(0 <= s <= cap for s in samples)
        assert max(samples) > 0.8 * cap  # really spread over the whole range, not fixed
    assert backoff_delay(10_000, 1, 3, rng) <= 3  # huge attempt counts do not overflow
