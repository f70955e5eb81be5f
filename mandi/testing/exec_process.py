"""The execution service as a real process (`python -m services.execution`) for end-to-end and
fault tests: pointed at a database, a Redis namespace (MANDI_REDIS_PREFIX) and a kitesim, on
free ports, with the sim clock. `ready()` waits for grpc.health.v1 SERVING without blocking the
event loop; `kill()` is SIGKILL, `stop()` SIGTERM (then SIGKILL)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mandi.testing.kitesim import REPO_ROOT, KitesimServer, free_port
from mandi.testing.redis import RedisNamespace
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import execution_pb2_grpc


class ExecutionProcess:
    def __init__(self, dsn: str, ns: RedisNamespace, sim: KitesimServer, log: Path,
                 fault: str = "", **env: str) -> None:
        self.port = free_port()
        full = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MANDI_PG_DSN": dsn,
                "MANDI_REDIS_URL": ns.url, "MANDI_REDIS_PREFIX": ns.prefix.rstrip(":"),
                "MANDI_KITE_ROOT": sim.url,
                "MANDI_KITE_WS_ROOT": sim.ws_url, "MANDI_KITE_API_KEY": sim.api_key,
                "MANDI_KITE_API_SECRET": sim.api_secret, "MANDI_CLOCK": "sim",
                "MANDI_EXECUTION_ADDR": f"127.0.0.1:{self.port}",
                "MANDI_METRICS_PORT_EXECUTION": str(free_port()),
                "MANDI_EXECUTION_TEST_FAULT": fault, **env}
        self.log = log
        self.proc = subprocess.Popen([sys.executable, "-m", "services.execution"],
                                     cwd=REPO_ROOT, env=full, stdout=log.open("ab"),
                                     stderr=subprocess.STDOUT)
        self.channel = signed_aio_channel(f"127.0.0.1:{self.port}")
        self.stub = execution_pb2_grpc.ExecutionServiceStub(self.channel)

    async def ready(self, timeout_s: float = 40) -> None:
        health = health_pb2_grpc.HealthStub(self.channel)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                r = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if r.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if self.proc.poll() is not None or asyncio.get_running_loop().time() > deadline:
                raise AssertionError("execution did not start:\n" + self.log.read_text()[-4000:])
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        await self.channel.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        else:
            self.proc.wait()
