"""`make run`: start kitesim and every Mandi service as supervised child processes.

Each child's output is prefixed with its name. A child that dies unexpectedly is restarted with
backoff. SIGINT/SIGTERM stop everything: children get SIGTERM (they drain in-flight work), and
whatever is still alive after the grace period is killed. Exit code 0 on a clean stop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass, field

from mandi.platform.config import Settings, load_settings

GRACE_S = 15.0
STOP_ORDER = ("gateway", "strategy", "execution", "marketdata", "history", "kitesim")
COLORS = ["36", "32", "33", "35", "34", "31"]


@dataclass
class Child:
    name: str
    argv: list[str]
    color: str
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    pumps: list[asyncio.Task] = field(default_factory=list)


def children(settings: Settings) -> list[Child]:
    py = sys.executable
    kitesim = [py, "-m", "services.kitesim", "--port", str(settings.kitesim_port),
               "--seed", str(settings.kitesim_seed)]
    if settings.kitesim_start:
        kitesim += ["--start", settings.kitesim_start.isoformat()]
    kitesim += ["--speed", str(settings.kitesim_speed)]
    names = ["history", "marketdata", "strategy", "execution", "gateway"]
    out = [Child("kitesim", kitesim, COLORS[0])]
    out += [Child(n, [py, "-m", f"services.{n}"], COLORS[(i + 1) % len(COLORS)])
            for i, n in enumerate(names)]
    return out


def child_env() -> dict[str, str]:
    """Services started next to kitesim take their clock from it, so a replayed day
    (MANDI_KITESIM_START) looks live to every service; an explicit MANDI_CLOCK wins."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    settings = load_settings()
    if settings.kite_root.rstrip("/") == f"http://127.0.0.1:{settings.kitesim_port}":
        env.setdefault("MANDI_CLOCK", "sim")
    return env


async def _pump(child: Child, stream: asyncio.StreamReader) -> None:
    tty = sys.stdout.isatty()
    prefix = f"\x1b[{child.color}m{child.name:>10} |\x1b[0m " if tty else f"{child.name:>10} | "
    while line := await stream.readline():
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


async def _start(child: Child) -> None:
    child.proc = await asyncio.create_subprocess_exec(
        *child.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=child_env(),
    )
    child.started_at = time.monotonic()
    child.pumps = [asyncio.create_task(_pump(child, child.proc.stdout))]


async def _watch(child: Child, stopping: asyncio.Event) -> None:
    """Restart a child that exits while we are not stopping (1 s, 2 s, 4 s … up to 30 s)."""
    while True:
        assert child.proc is not None
        code = await child.proc.wait()
        await asyncio.gather(*child.pumps, return_exceptions=True)
        if stopping.is_set():
            return
        ran = time.monotonic() - child.started_at
        child.restarts = 0 if ran > 60 else child.restarts + 1
        delay = min(30.0, 2.0 ** max(0, child.restarts - 1))
        print(f"supervisor | {child.name} exited with {code}; restarting in {delay:.0f}s",
              flush=True)
        try:
            await asyncio.wait_for(stopping.wait(), delay)
            return
        except TimeoutError:
            await _start(child)


async def _wait_http(url: str, timeout_s: float) -> bool:
    import aiohttp

    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as r:
                    if r.status < 500:
                        return True
            except (aiohttp.ClientError, TimeoutError, OSError):
                pass
            await asyncio.sleep(0.2)
    return False


def banner(settings: Settings) -> str:
    lines = [
        "Mandi is starting:",
        f"  gateway     REST/WS/UI  http://127.0.0.1:{settings.gateway_port}"
        "  (OpenAPI: /openapi.json)",
        f"  kitesim     Kite REST   http://127.0.0.1:{settings.kitesim_port}  ticker: "
        f"ws://127.0.0.1:{settings.kitesim_port}/ws",
    ]
    for name in ("marketdata", "history", "strategy", "execution", "gateway"):
        lines.append(f"  {name:<11} gRPC        {settings.addr_of(name)}   metrics: "
                     f"http://127.0.0.1:{settings.metrics_port_of(name)}/metrics")
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)


async def main() -> int:
    settings = load_settings()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)

    kids = children(settings)
    print(banner(settings), flush=True)
    await _start(kids[0])
    if not await _wait_http(f"http://127.0.0.1:{settings.kitesim_port}/sim/clock", 30):
        print("supervisor | kitesim did not come up within 30 s", flush=True)
    for child in kids[1:]:
        await _start(child)
    watchers = [asyncio.create_task(_watch(c, stopping)) for c in kids]

    await stopping.wait()
    print("supervisor | stopping all services", flush=True)
    # callers before what they call, the broker last: a service stopped under a caller that is
    # still working makes the caller log failures for the second it takes the rest to stop
    deadline = time.monotonic() + GRACE_S
    by_name = dict(zip([c.name for c in kids], watchers, strict=True))
    for name in STOP_ORDER:
        child = next(c for c in kids if c.name == name)
        if child.proc and child.proc.returncode is None:
            child.proc.send_signal(signal.SIGTERM)
            await asyncio.wait([by_name[name]], timeout=max(0.1, deadline - time.monotonic()))
    for child in kids:
        if child.proc and child.proc.returncode is None:
            print(f"supervisor | {child.name} did not stop in {GRACE_S:.0f}s; killing", flush=True)
            child.proc.kill()
    await asyncio.gather(*watchers, return_exceptions=True)
    print("supervisor | stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
