"""The sandbox's file limits (L11), with a real child process: custom code reaches no file
through numpy — it cannot read /etc/passwd or create, truncate or write a file — because the
child's seccomp filter denies every call that names a path (and RLIMIT_FSIZE is 0). Imports of
the allowed modules still work (they were loaded before the lock-down)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from services.strategy.sandbox import Sandbox, SandboxError, SandboxLimits

LIMITS = SandboxLimits(cpu_s=5, memory_bytes=512 * 1024 * 1024, wall_s=120.0)


def on_bar(body: str) -> str:
    return ("import numpy as np\nclass Strategy:\n    def on_bar(self, bar, ctx):\n"
            + "".join(f"        {line}\n" for line in body.splitlines()))


def any_file(*paths: Path) -> bool:
    return any(p.exists() for p in paths)


def proc_file(pid: int, name: str) -> list[str]:
    return Path(f"/proc/{pid}/{name}").read_text().splitlines()


def proc_limits(pid: int) -> list[str]:
    return proc_file(pid, "limits")


async def run(code: str, n: int = 3) -> np.ndarray:
    ts = np.arange(n, dtype=np.int64) * 60_000
    close = np.full(n, 100.0)
    async with Sandbox(LIMITS) as box:
        await box.init(code, {})
        return await box.bars(ts, close, close, close, close, np.ones(n, dtype=np.int64))


@pytest.mark.parametrize(("read", "reason"), [
    ("np.load('/etc/passwd', allow_pickle=False)", "Operation not permitted"),
    ("np.genfromtxt('/etc/passwd', dtype=str, delimiter=':')", "Operation not permitted"),
    # numpy's memmap imports mmap lazily, and no module file can be opened any more.
    ("np.memmap('/etc/passwd', dtype=np.uint8, mode='r')", "No module named 'mmap'"),
    # numpy's C reader fails to get its descriptor and says only that it returned NULL.
    ("np.fromfile('/etc/passwd', dtype=np.uint8)", "SystemError"),
])
async def test_sandbox_when_code_reads_a_file_through_numpy_it_fails_unread(read, reason):
    # Were the read to succeed, the error would say READ and how much came back.
    with pytest.raises(SandboxError) as err:
        await run(on_bar(f"data = {read}\nraise ValueError('READ ' + str(len(data)))"))
    assert "READ" not in str(err.value)
    assert "line 4" in str(err.value) and reason in str(err.value)


@pytest.mark.parametrize("write", [
    "np.save({path!r}, np.arange(3))",
    "np.savetxt({path!r}, np.arange(3))",
    "np.arange(3).tofile({path!r})",
])
async def test_sandbox_when_code_writes_a_file_through_numpy_nothing_is_written(write, tmp_path):
    target = tmp_path / "written"
    with pytest.raises(SandboxError, match="line 4"):
        await run(on_bar(write.format(path=str(target)) + "\nreturn 1"))
    assert not any_file(target, Path(f"{target}.npy"))


async def test_sandbox_when_code_writes_over_an_existing_file_it_is_not_truncated(tmp_path):
    victim = tmp_path / "victim.npy"
    victim.write_bytes(b"precious")
    with pytest.raises(SandboxError, match="Operation not permitted"):
        await run(on_bar(f"np.save({str(victim)!r}, np.arange(3))\nreturn 1"))
    assert victim.read_bytes() == b"precious"


async def test_sandbox_child_runs_filtered_unprivileged_with_no_file_size():
    async with Sandbox(LIMITS) as box:
        await box.init(on_bar("return 1"), {})
        pid = box._proc.pid
        limits = proc_limits(pid)
        status = dict(line.split(":", 1) for line in proc_file(pid, "status"))
    size = next(line.split() for line in limits if line.startswith("Max file size"))
    assert size[3:5] == ["0", "0"]
    procs = next(line.split() for line in limits if line.startswith("Max processes"))
    assert procs[2:4] == ["0", "0"]
    assert status["Seccomp"].strip() == "2"  # a filter, not strict mode and not none
    assert status["NoNewPrivs"].strip() == "1"
    if os.geteuid() == 0:  # a root service runs its sandboxes as nobody
        assert status["Uid"].split()[:3] == ["65534"] * 3
        assert status["Groups"].strip() == ""


async def test_sandbox_when_code_imports_allowed_modules_after_the_limits_they_load():
    code = ("import statistics\nimport fractions\nimport decimal\nimport numpy as np\n"
            "class Strategy:\n    def on_bar(self, bar, ctx):\n"
            "        rng = np.random.default_rng(1)\n"
            "        f = np.fft.rfft(np.ones(4))\n"
            "        m = statistics.mean([1, 2, 3]) + fractions.Fraction(1, 2)\n"
            "        return 1 if (m, decimal.Decimal('1'), f[0], rng.integers(1, 2)) else 0\n")
    assert (await run(code)).tolist() == [1, 1, 1]
