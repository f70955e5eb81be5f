"""The custom-code sandbox with a real child process: limits turn into reasons, never into a
hung or dead parent."""

from __future__ import annotations

import os

import numpy as np
import pytest

from services.strategy.sandbox import Sandbox, SandboxError, SandboxLimits, check_code

LIMITS = SandboxLimits(cpu_s=1, memory_bytes=512 * 1024 * 1024, wall_s=6.0)
MOMENTUM = """
import numpy as np

class Strategy:
    def __init__(self, params):
        self.n = params["n"]

    def on_bar(self, bar, ctx):
        if ctx.index < self.n:
            return None
        return 1 if ctx.close[-1] > np.mean(ctx.close[-self.n:]) else -1
"""


def bars(n: int):
    close = 100 + np.cumsum(np.random.default_rng(3).normal(size=n))
    return (np.arange(n, dtype=np.int64) * 60_000, close, close + 1, close - 1, close,
            np.ones(n, dtype=np.int64))


async def run(code: str, bar_count: int = 50, limits: SandboxLimits = LIMITS,
              **params) -> np.ndarray:
    async with Sandbox(limits) as box:
        await box.init(code, params)
        return await box.bars(*bars(bar_count))


async def test_sandbox_when_code_is_valid_returns_one_target_per_bar():
    out = await run(MOMENTUM, 300, n=5)
    assert out.dtype == np.int8 and len(out) == 300
    assert set(out[:5].tolist()) == {0} and set(out[5:].tolist()) <= {-1, 1}
    _, close, *_ = bars(300)
    expected = np.where(close[10] > close[6:11].mean(), 1, -1)
    assert out[10] == expected


async def test_sandbox_when_chunks_are_fed_history_spans_them():
    code = ("class Strategy:\n    def on_bar(self, bar, ctx):\n"
            "        return 1 if len(ctx.close) > 70 else 0\n")
    async with Sandbox(LIMITS) as box:
        await box.init(code, {})
        ts, o, h, lo, c, v = bars(100)
        first = await box.bars(ts[:50], o[:50], h[:50], lo[:50], c[:50], v[:50])
        second = await box.bars(ts[50:], o[50:], h[50:], lo[50:], c[50:], v[50:])
    assert first.sum() == 0 and second.tolist() == [0] * 20 + [1] * 30


async def test_sandbox_when_code_loops_forever_fails_with_cpu_limit():
    code = "class Strategy:\n    def on_bar(self, bar, ctx):\n"
    code += "        while True:\n            pass\n"
    # A wall limit far beyond the 1 s of CPU: on a starved machine the CPU limit still fires
    # first, so the message is deterministic (SIGXCPU's and SIGKILL's both name it).
    cpu_first = SandboxLimits(cpu_s=1, memory_bytes=512 * 1024 * 1024, wall_s=300.0)
    with pytest.raises(SandboxError, match="CPU time limit of 1 s"):
        await run(code, limits=cpu_first)


async def test_sandbox_when_wall_clock_runs_out_first_kills_and_says_timed_out():
    # 60 s of CPU allowed, 1 s of wall clock: only the parent's wall-clock kill can end this
    # before a minute, and its message (not the CPU limit's) says which limit fired.
    code = "while True:\n    pass\n"
    slow_cpu = SandboxLimits(cpu_s=60, memory_bytes=512 * 1024 * 1024, wall_s=1.0)
    with pytest.raises(SandboxError, match="timed out: wall-clock limit of 1 s"):
        await run(code, limits=slow_cpu)


async def test_sandbox_when_code_allocates_10gb_fails_with_memory_limit():
    code = "class Strategy:\n    def on_bar(self, bar, ctx):\n        x = bytearray(10**10)\n"
    with pytest.raises(SandboxError, match="memory limit of 512 MB"):
        await run(code)


@pytest.mark.parametrize(("code", "reason"), [
    ("import os\n", "import of 'os' is not allowed"),
    ("import subprocess\n", "import of 'subprocess' is not allowed"),
    ("open('/etc/passwd')\n", "name 'open' is not defined"),
    ("def f(:\n", "SyntaxError"),
    ("x = 1\n", "must define a class named Strategy"),
    ("class Strategy:\n    pass\n", "must define on_bar"),
])
async def test_check_code_when_source_is_unusable_names_the_reason(code, reason):
    found = await check_code(code, limits=LIMITS)
    assert found is not None and reason in found


async def test_sandbox_when_on_bar_raises_reports_line_and_error():
    code = "class Strategy:\n    def on_bar(self, bar, ctx):\n        return 1 / 0\n"
    with pytest.raises(SandboxError, match="line 3: ZeroDivisionError"):
        await run(code)


async def test_sandbox_when_on_bar_returns_bad_target_says_what_is_allowed():
    code = "class Strategy:\n    def on_bar(self, bar, ctx):\n        return 5\n"
    with pytest.raises(SandboxError, match="expected 1, 0, -1 or None"):
        await run(code)


async def test_sandbox_when_code_prints_protocol_is_unharmed():
    code = ("class Strategy:\n    def on_bar(self, bar, ctx):\n"
            "        print('noise' * 1000)\n        return 1\n")
    assert (await run(code)).tolist() == [1] * 50


async def test_sandbox_when_closed_leaves_no_child_running():
    box = Sandbox(LIMITS)
    await box.start()
    pid = box._proc.pid
    await box.init(MOMENTUM, {"n": 3})
    await box.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
