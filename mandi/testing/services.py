"""Run Mandi services as real processes for end-to-end tests: each on free ports, pointed at the
given database, Redis and Kite root, waited on until grpc.health.v1 reports SERVING."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mandi.testing.gateway_auth import ADMIN_ENV
from mandi.testing.kitesim import REPO_ROOT, free_port


@dataclass
class ServiceProcess:
    name: str
    addr: str
    proc: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(30)


# A channel whose first connects are refused (the service is still importing) backs off
# 1 s, 1.6 s, 2.6 s... before trying again, and a Check fails fast meanwhile: with gRPC's
# defaults a start was noticed 1.5-2.3 s late (measured). Reconnect within 50-250 ms instead.
_PROBE_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 50),
                  ("grpc.min_reconnect_backoff_ms", 50), ("grpc.max_reconnect_backoff_ms", 250)]


def wait_serving(addr: str, timeout_s: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(addr, options=_PROBE_OPTIONS) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"service at {addr} exited with {proc.returncode}")
            try:
                r = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if r.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.05)
    raise TimeoutError(f"{addr} not SERVING after {timeout_s:.0f}s")


def _spawn(name: str, env: dict[str, str], log_dir: Path) -> ServiceProcess:
    """`python -m services.<name>` started (not yet waited on) with its own gRPC and metrics
    ports; `env` overrides MANDI_* settings (DSN, Kite root, other addrs)."""
    addr = env.get(f"MANDI_{name.upper()}_ADDR") or f"127.0.0.1:{free_port()}"
    full = {**os.environ, **ADMIN_ENV, **env, f"MANDI_{name.upper()}_ADDR": addr,
            f"MANDI_METRICS_PORT_{name.upper()}": env.get(
                f"MANDI_METRICS_PORT_{name.upper()}", str(free_port())),
            "PYTHONUNBUFFERED": "1"}
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), full.get("PYTHONPATH")]))
    log_path = log_dir / f"{name}-{addr.rsplit(':', 1)[1]}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=REPO_ROOT,
                                env=full, stdout=log, stderr=subprocess.STDOUT)
    return ServiceProcess(name, addr, proc, log_path, env=full)


def _wait_started(svc: ServiceProcess, timeout_s: float) -> None:
    try:
        wait_serving(svc.addr, timeout_s, svc.proc)
    except Exception as exc:
        raise RuntimeError(f"{svc.name} did not start:\n{svc.log()[-4000:]}") from exc


def _stop(services: list[ServiceProcess]) -> None:
    """SIGTERM to each (in this order), then SIGKILL to any not exited within 20 s."""
    running = [svc.proc for svc in services if svc.proc.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    for proc in running:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def service_process(name: str, env: dict[str, str], log_dir: Path,
                    timeout_s: float = 40.0) -> Iterator[ServiceProcess]:
    """`python -m services.<name>` with its own gRPC and metrics ports; stops it (SIGTERM, then
    SIGKILL) afterwards. `env` overrides MANDI_* settings (DSN, Kite root, other addrs)."""
    with services_together([(name, env)], log_dir, timeout_s) as (svc,):
        yield svc


@contextlib.contextmanager
def services_together(specs: list[tuple[str, dict[str, str]]], log_dir: Path,
                      timeout_s: float = 40.0) -> Iterator[list[ServiceProcess]]:
    """Like `service_process` for several services at once: all are started before any is
    waited on (each spends seconds importing, migrating and logging in to Kite, and a service
    reaches the others lazily over gRPC), then each waited on until SERVING. Afterwards all are
    sent SIGTERM (the last started first) and then waited on, so their drains overlap."""
    started: list[ServiceProcess] = []
    try:
        for name, env in specs:
            started.append(_spawn(name, env, log_dir))
        for svc in started:
            _wait_started(svc, timeout_s)
        yield started
    finally:
        _stop(started[::-1])


@contextlib.contextmanager
def service_started_ahead(name: str, env: dict[str, str], log_dir: Path,
                          timeout_s: float = 40.0) -> Iterator[Callable[[], ServiceProcess]]:
    """`service_process` for a process needed a little later: started at once, it imports and
    migrates while the test goes on; the yielded function waits until it is SERVING and
    returns it. Stopped afterwards like the others."""
    svc = _spawn(name, env, log_dir)
    try:
        def ready() -> ServiceProcess:
            _wait_started(svc, timeout_s)
            return svc
        yield ready
    finally:
        _stop([svc])
