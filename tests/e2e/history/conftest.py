"""kitesim + history + gateway as real processes over real sockets, on a fresh database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mandi.testing.gateway_auth import GatewayLogin
from mandi.testing.kitesim import KitesimServer, free_port, kitesim_process
from mandi.testing.pg import fresh_database
from mandi.testing.services import ServiceProcess, services_together


@dataclass
class DataStack:
    kitesim: KitesimServer
    history: ServiceProcess
    gateway_url: str
    env: dict[str, str]
    log_dir: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway_url, timeout=120, auth=GatewayLogin())


@pytest.fixture(scope="module")
def data_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataStack]:
    log_dir = tmp_path_factory.mktemp("logs")
    loop = asyncio.new_event_loop()
    db_cm = fresh_database()
    dsn = loop.run_until_complete(db_cm.__aenter__())
    try:
        with kitesim_process("--start", "2026-03-02T15:45:00+05:30", seed=7) as sim:
            history_addr = f"127.0.0.1:{free_port()}"
            env = {"MANDI_PG_DSN": dsn, "MANDI_KITE_ROOT": sim.url,
                   "MANDI_KITE_WS_ROOT": sim.ws_url, "MANDI_CLOCK": "sim",
                   "MANDI_HISTORY_ADDR": history_addr,
                   "MANDI_REDIS_URL": "redis://127.0.0.1:6379/0",
                   "MANDI_KITE_API_KEY": sim.api_key}
            port = free_port()
            gw_env = {**env, "MANDI_GATEWAY_PORT": str(port)}
            with services_together([("history", env), ("gateway", gw_env)],
                                   log_dir) as (history, _):
                yield DataStack(sim, history, f"http://127.0.0.1:{port}", env, log_dir)
    finally:
        loop.run_until_complete(db_cm.__aexit__(None, None, None))
        loop.close()
