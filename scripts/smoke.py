"""`make smoke`: start the whole platform, wait until every service reports SERVING over
grpc.health.v1 and the gateway answers /healthz, then SIGTERM it and check a clean exit with no
orphan processes. Exits non-zero with the reason on any failure. A test can pass `while_up`, run
against the platform once it is serving and before it is stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mandi.platform.config import load_settings

GRPC_SERVICES = ["marketdata", "history", "strategy", "execution", "gateway"]


async def _serving(addr: str) -> bool:
    async with grpc.aio.insecure_channel(addr) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        try:
            r = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
        except grpc.aio.AioRpcError:
            return False
        return r.status == health_pb2.HealthCheckResponse.SERVING


async def wait_all_serving(timeout_s: float, env: dict[str, str] | None = None
                           ) -> dict[str, float]:
    settings = load_settings({**os.environ, **(env or {})})
    start = time.monotonic()
    ready: dict[str, float] = {}
    while time.monotonic() - start < timeout_s:
        for name in GRPC_SERVICES:
            if name not in ready and await _serving(settings.addr_of(name)):
                ready[name] = time.monotonic() - start
        if len(ready) == len(GRPC_SERVICES):
            return ready
        await asyncio.sleep(0.3)
    missing = sorted(set(GRPC_SERVICES) - set(ready))
    raise TimeoutError(f"not SERVING after {timeout_s:.0f}s: {', '.join(missing)}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def run_smoke(timeout_s: float = 60.0, log_path: str | None = None,
              env: dict[str, str] | None = None,
              while_up: Callable[[], object] | None = None) -> dict[str, float]:
    """Start `python -m scripts.supervisor`, wait for SERVING, call `while_up` (if given),
    SIGTERM, check a clean exit."""
    log = open(log_path or os.devnull, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "scripts.supervisor"], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **(env or {})})
    try:
        ready = asyncio.run(wait_all_serving(timeout_s, env))
        if while_up is not None:
            while_up()
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        log.flush()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    deadline = time.monotonic() + 5
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    orphans = _group_alive(proc.pid)
    if orphans:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()
    if code != 0:
        raise RuntimeError(f"supervisor exited with {code} after SIGTERM")
    if orphans:
        raise RuntimeError("processes of the platform were still alive after the supervisor exited")
    return ready


if __name__ == "__main__":
    try:
        times = run_smoke()
    except Exception as exc:  # the reason is the output
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
    for name, t in sorted(times.items(), key=lambda kv: kv[1]):
        print(f"smoke: {name:<11} SERVING after {t:5.1f}s")
    print("smoke: SIGTERM → exit 0, no orphan processes")
