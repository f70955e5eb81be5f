"""`make run` as a user runs it: every service reports SERVING within 60 s; while it runs, no
secret — Kite API secret, Kite request/access/public tokens, passwords, API keys, JWTs, refresh
tokens, session cookies — appears in any process's log, any API answer the test saw (status,
headers, body) or any /metrics page (tests/e2e/secret_sweep.py; services log at DEBUG); and
SIGTERM stops the whole platform with exit code 0 and no orphan processes. Runs on its own
ports and its own database so it never collides with a `make run` on the same machine."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from mandi.testing.kitesim import DEFAULT_START, free_port
from mandi.testing.pg import fresh_database
from scripts.smoke import run_smoke
from tests.e2e.secret_sweep import Sweep, exercise

pytestmark = pytest.mark.e2e
SERVICES = ("marketdata", "history", "strategy", "execution", "gateway")


async def test_platform_when_started_all_services_serving_no_secret_leaks_and_sigterm_exits_clean(
    tmp_path: Path,
) -> None:
    sweep = Sweep()
    kitesim_port = free_port()
    env = {f"MANDI_{s.upper()}_ADDR": f"127.0.0.1:{free_port()}" for s in SERVICES}
    env |= {f"MANDI_METRICS_PORT_{s.upper()}": str(free_port()) for s in SERVICES}
    env |= {"MANDI_GATEWAY_PORT": str(free_port()), "MANDI_KITESIM_PORT": str(kitesim_port),
            "MANDI_KITE_ROOT": f"http://127.0.0.1:{kitesim_port}",
            "MANDI_KITE_WS_ROOT": f"ws://127.0.0.1:{kitesim_port}/ws", "MANDI_LOG_LEVEL": "DEBUG",
            # the sweep places an order: a trading morning, not the wall clock (after 15:30 IST
            # the market is closed and the order is refused)
            "MANDI_KITESIM_START": DEFAULT_START.isoformat(),
            # its own Redis keys: the duplicate-order guard of PAPER1 / SIM001 under the default
            # prefix is shared with any other platform on this Redis (it refused the sweep's
            # order in a full run)
            "MANDI_REDIS_PREFIX": f"smoke-{uuid.uuid4().hex[:8]}",
            # secrets of this run, each unique enough to grep for
            "MANDI_KITE_API_SECRET": sweep.secret("kite-secret-SWEEP-9x2v7b", "Kite API secret"),
            "MANDI_ADMIN_PASSWORD": sweep.secret("admin-pw-SWEEP-3n6t0w", "admin's password"),
            "MANDI_JWT_SECRET": sweep.secret("jwt-signing-key-SWEEP-5r1y8u-0123456789abcdef",
                                             "the JWT signing key"),
            # two secrets-at-rest keys (a rotation in progress): neither may show anywhere
            "MANDI_SECRET_KEY": ",".join((
                sweep.secret("at-rest-key-SWEEP-new-4k8m2q-0123456789", "the new at-rest key"),
                sweep.secret("at-rest-key-SWEEP-old-7p3z5c-0123456789", "the old at-rest key")))}
    metrics = {s: f"http://127.0.0.1:{env[f'MANDI_METRICS_PORT_{s.upper()}']}/metrics"
               for s in SERVICES}
    log = tmp_path / "platform.log"
    took: dict[str, float] = {}

    def while_up() -> None:
        t0 = time.monotonic()
        exercise(sweep, f"http://127.0.0.1:{env['MANDI_GATEWAY_PORT']}",
                 env["MANDI_ADMIN_PASSWORD"], metrics, f"http://127.0.0.1:{kitesim_port}")
        took["sweep"] = time.monotonic() - t0

    async with fresh_database() as dsn:
        env["MANDI_PG_DSN"] = dsn
        try:
            ready = await asyncio.to_thread(run_smoke, 60.0, str(log), env, while_up)
        except Exception:
            print(log.read_text(errors="replace")[-8000:])
            raise
    assert set(ready) == set(SERVICES)
    assert max(ready.values()) < 60.0
    text = log.read_text(errors="replace")
    assert "supervisor | stopped" in text
    assert len(sweep.seen) >= 23 and len(sweep.carriers) >= 5  # the sweep ran to its end
    assert "execution" in text and "gateway" in text  # every process's lines are in the log
    leaks = sweep.leaks(text)
    assert not leaks, "\n".join(leaks)
    print(f"secret sweep: {len(sweep.seen)} answers and pages, {len(sweep.secrets)} secrets, "
          f"{took['sweep']:.1f} s")


def test_secret_sweep_finds_what_it_is_told_and_any_jwt() -> None:
    sweep = Sweep()
    sweep.secret("planted-SWEEP-secret", "a planted secret")
    clean = "INFO gateway: 3 orders\n"
    assert sweep.leaks(clean) == []
    found = sweep.leaks(clean + "DEBUG x: header planted-SWEEP-secret; eyJhbGciOiJub25lIn0.e30.\n")
    assert found == ["a planted secret in logs", "JWT-shaped eyJhbGciOiJu… in logs"]
