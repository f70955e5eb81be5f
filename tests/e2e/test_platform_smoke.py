"""`make run` as a user runs it: every service reports SERVING within 60 s, and SIGTERM stops
the whole platform with exit code 0 and no orphan processes. Runs on its own ports and its
own database so it never collides with a `make run` on the same machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from mandi.testing.kitesim import free_port
from mandi.testing.pg import fresh_database
from scripts.smoke import run_smoke

pytestmark = pytest.mark.e2e
SERVICES = ("marketdata", "history", "strategy", "execution", "gateway")


async def test_platform_when_started_all_services_serving_and_sigterm_exits_clean(
    tmp_path: Path,
) -> None:
    import asyncio

    kitesim_port = free_port()
    env = {f"MANDI_{s.upper()}_ADDR": f"127.0.0.1:{free_port()}" for s in SERVICES}
    env |= {f"MANDI_METRICS_PORT_{s.upper()}": str(free_port()) for s in SERVICES}
    env |= {"MANDI_GATEWAY_PORT": str(free_port()), "MANDI_KITESIM_PORT": str(kitesim_port),
            "MANDI_KITE_ROOT": f"http://127.0.0.1:{kitesim_port}",
            "MANDI_KITE_WS_ROOT": f"ws://127.0.0.1:{kitesim_port}/ws"}
    log = tmp_path / "platform.log"
    async with fresh_database() as dsn:
        env["MANDI_PG_DSN"] = dsn
        try:
            ready = await asyncio.to_thread(run_smoke, 60.0, str(log), env)
        except Exception:
            print(log.read_text(errors="replace")[-8000:])
            raise
    assert set(ready) == set(SERVICES)
    assert max(ready.values()) < 60.0
    text = log.read_text(errors="replace")
    assert "supervisor | stopped" in text
