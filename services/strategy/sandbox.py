"""Custom Python strategies, run in a separate, isolated process — never in the service's own.

The child (`sandbox_child.py`) is started with `python -I` in a session of its own, with an
environment of five harmless variables (no `MANDI_*`, no DSN), in an empty directory of its
own, and talks to us over its stdin/stdout pipes only. Before it reads the user's source it
locks itself down (`sandbox_jail.py`): `nobody` instead of root, rlimits (CPU, address space,
no files, no processes) and a seccomp filter that denies every file, socket, process and signal
call. We enforce the wall clock — every reply must arrive before the run's deadline or the whole
process group is killed — and how many sandboxes run at once (`max_concurrent`, a wait for a
slot counts against the run's wall clock). Replies are untrusted: a frame larger than the
protocol allows ends the run. Whatever goes wrong — a loop that never ends, a 10 GB
allocation, an exception, a crash, an escape attempt — becomes a `SandboxError` with a reason
a user can act on, and the service itself is untouched.

Custom code is admin-only; that check lives with the caller (it knows who asks), this module
only runs code.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import struct
import sys
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CHILD = Path(__file__).with_name("sandbox_child.py")
MAX_CODE_BYTES = 256 * 1024
MAX_REPLY_BYTES = 1 << 20  # a JSON reply; a bars reply is exactly one byte per bar
# Sandboxes running at once in this process (each is a Python with numpy: ~30 MiB resident and a
# core while it computes); further ones wait for a slot. Set from MANDI_STRATEGY_SANDBOX_MAX.
max_concurrent = 4
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary())


def set_max_concurrent(n: int) -> None:
    """How many sandboxes may run at once in this process (MANDI_STRATEGY_SANDBOX_MAX). Set it
    at start-up: sandboxes already running keep the slots of the limit they started under."""
    global max_concurrent
    if n < 1:
        raise ValueError("at least one sandbox must be allowed to run")
    max_concurrent = n
    _slots.clear()


def _slots_here() -> asyncio.Semaphore:
    """This event loop's gate (an asyncio primitive is bound to the loop it is first used on)."""
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(max_concurrent)
    return slots


@dataclass(frozen=True)
class SandboxLimits:
    cpu_s: int = 60  # CPU seconds for the whole run
    memory_bytes: int = 512 * 1024 * 1024  # address space
    wall_s: float = 300.0  # wall-clock seconds for the whole run, enforced by the parent

    def __post_init__(self) -> None:
        # A non-positive rlimit would read as "unlimited" once it reaches the kernel.
        if self.cpu_s < 1 or self.memory_bytes < 64 * 1024 * 1024 or not self.wall_s > 0:
            raise ValueError(f"sandbox limits must be positive (CPU >= 1 s, memory >= 64 MiB, "
                             f"wall > 0): {self}")


class SandboxError(Exception):
    """The custom code failed; `str()` is the reason shown to the user."""


class Sandbox:
    """One child process for one custom strategy run: `start`, `init`, `bars`…, `close`."""

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self._proc: asyncio.subprocess.Process | None = None
        self._deadline = 0.0
        self._slot: asyncio.Semaphore | None = None
        self._workdir: str | None = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self.limits.wall_s
        slots = _slots_here()
        try:
            await asyncio.wait_for(slots.acquire(), max(self._deadline - loop.time(), 0.001))
        except TimeoutError:
            raise SandboxError(
                f"custom strategy could not start: {max_concurrent} sandboxes were busy for its "
                f"whole wall-clock limit of {self.limits.wall_s:g} s") from None
        self._slot = slots
        try:
            await self._spawn()
        except BaseException:
            await self._release()
            raise

    async def _spawn(self) -> None:
        # An empty directory the child cannot write (it runs as nobody): its cwd and nothing more.
        self._workdir = tempfile.mkdtemp(prefix="mandi-sandbox-")
        os.chmod(self._workdir, 0o555)
        env = {"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8"}
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", str(CHILD), str(self.limits.cpu_s),
            str(self.limits.memory_bytes),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=env, cwd=self._workdir, start_new_session=True,
            limit=1 << 26)

    async def init(self, code: str, params: dict[str, Any], symbol: str = "") -> None:
        if len(code.encode()) > MAX_CODE_BYTES:
            raise SandboxError(f"source is larger than {MAX_CODE_BYTES // 1024} KiB")
        await self._request({"op": "init", "code": code, "params": params, "symbol": symbol})

    async def reset(self, symbol: str) -> None:
        """Start a new symbol: the strategy object keeps its state, the bar history does not."""
        await self._request({"op": "reset", "symbol": symbol})

    async def bars(self, ts_ms: np.ndarray, open_: np.ndarray, high: np.ndarray,
                   low: np.ndarray, close: np.ndarray, volume: np.ndarray) -> np.ndarray:
        """Feed a chunk of bars; returns the int8 target position after each bar."""
        blobs = [np.ascontiguousarray(ts_ms, np.int64).tobytes(),
                 np.ascontiguousarray(open_, np.float64).tobytes(),
                 np.ascontiguousarray(high, np.float64).tobytes(),
                 np.ascontiguousarray(low, np.float64).tobytes(),
                 np.ascontiguousarray(close, np.float64).tobytes(),
                 np.ascontiguousarray(volume, np.int64).tobytes()]
        await self._request({"op": "bars"}, blobs)
        out = np.frombuffer(await self._read_frame(len(close)), dtype=np.int8)
        if len(out) != len(close):
            raise SandboxError("custom strategy process answered with the wrong bar count")
        return out

    async def close(self) -> None:
        proc = self._proc
        self._proc = None
        if proc is not None:
            if proc.returncode is None:
                try:
                    proc.stdin.close()  # type: ignore[union-attr]
                    await asyncio.wait_for(proc.wait(), 1.0)
                except (TimeoutError, BrokenPipeError, ConnectionResetError):
                    pass
            self._kill(proc)
            await proc.wait()
        await self._release()

    async def _release(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        slots, self._slot = self._slot, None
        if slots is not None:
            slots.release()

    # --- internals -----------------------------------------------------------------------
    @staticmethod
    def _kill(proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the session: the child and anything it made
            except ProcessLookupError:
                pass

    async def _request(self, req: dict[str, Any], blobs: list[bytes] = ()) -> dict[str, Any]:
        proc = self._proc
        if proc is None:
            raise SandboxError("custom strategy process is not running")
        try:
            for payload in (json.dumps(req).encode(), *blobs):
                proc.stdin.write(struct.pack(">I", len(payload)) + payload)  # type: ignore[union-attr]
            await self._within_deadline(proc.stdin.drain())  # type: ignore[union-attr]
        except (BrokenPipeError, ConnectionResetError):
            raise await self._died() from None
        try:
            reply = json.loads(await self._read_frame(MAX_REPLY_BYTES))
        except ValueError:
            await self.close()
            raise SandboxError("custom strategy process broke the protocol") from None
        if not isinstance(reply, dict) or not reply.get("ok"):
            reply = reply if isinstance(reply, dict) else {}
            await self.close()
            if reply.get("kind") == "memory":
                raise SandboxError("custom strategy exceeded its memory limit of "
                                   f"{self.limits.memory_bytes // (1024 * 1024)} MB")
            raise SandboxError(str(reply.get("error") or "custom strategy failed"))
        return reply

    async def _read_frame(self, max_bytes: int) -> bytes:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        try:
            head = await self._within_deadline(proc.stdout.readexactly(4))
            (n,) = struct.unpack(">I", head)
            if n > max_bytes:
                await self.close()
                raise SandboxError(f"custom strategy process sent {n} bytes where at most "
                                   f"{max_bytes} were expected")
            return await self._within_deadline(proc.stdout.readexactly(n))
        except asyncio.IncompleteReadError:
            raise await self._died() from None

    async def _within_deadline(self, aw: Any) -> Any:
        remaining = self._deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(aw, max(remaining, 0.001))
        except TimeoutError:
            proc = self._proc
            if proc is not None:
                self._kill(proc)
                await proc.wait()
                self._proc = None
            raise SandboxError(
                f"custom strategy timed out: wall-clock limit of {self.limits.wall_s:g} s "
                "exceeded") from None

    async def _died(self) -> SandboxError:
        proc = self._proc
        assert proc is not None
        try:
            code = await asyncio.wait_for(proc.wait(), 2.0)
        except TimeoutError:
            self._kill(proc)
            code = await proc.wait()
        self._proc = None
        if code == -signal.SIGXCPU:
            return SandboxError(
                f"custom strategy exceeded its CPU time limit of {self.limits.cpu_s} s")
        if code == -signal.SIGKILL:
            # The hard RLIMIT_CPU limit (soft + 1 s) ends in SIGKILL when SIGXCPU was ignored.
            return SandboxError(
                f"custom strategy was killed (CPU time limit of {self.limits.cpu_s} s)")
        if code == 3:
            return SandboxError("custom strategy exceeded its memory limit")
        return SandboxError(f"custom strategy process exited unexpectedly (status {code})")


async def check_code(code: str, params: dict[str, Any] | None = None,
                     limits: SandboxLimits | None = None) -> str | None:
    """Load the source in a short-lived sandbox; None when it defines a usable Strategy,
    else the reason. Used by validation, so it gets small limits of its own."""
    if not code.strip():
        return "source is empty"
    limits = limits or SandboxLimits(cpu_s=5, memory_bytes=512 * 1024 * 1024, wall_s=10.0)
    try:
        async with Sandbox(limits) as box:
            await box.init(code, params or {})
    except SandboxError as exc:
        return str(exc)
    return None
