"""The platform `api_fuzz` runs against: `make run`'s supervisor on free ports with a fresh
database, a trader and a viewer granted PAPER1 beside the first-run admin, the write watch
installed once every service has migrated."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

from mandi.testing.api_fuzz import FuzzResult, fuzz, install_watch
from mandi.testing.gateway_auth import bearer
from mandi.testing.kitesim import free_port
from mandi.testing.pg import fresh_database
from scripts.smoke import run_smoke

SERVICES = ("marketdata", "history", "strategy", "execution", "gateway")
ADMIN_PASSWORD = "fuzz-admin-password-1"
USERS = {"fuzz-trader": "trader", "fuzz-viewer": "viewer"}
# calls that would end the fuzzing identities' own sessions or wipe the platform's state
SKIP = {("POST", "/api/v1/auth/logout")}


def platform_env() -> dict[str, str]:
    kitesim = free_port()
    env = {f"MANDI_{s.upper()}_ADDR": f"127.0.0.1:{free_port()}" for s in SERVICES}
    env |= {f"MANDI_METRICS_PORT_{s.upper()}": str(free_port()) for s in SERVICES}
    return env | {
        "MANDI_GATEWAY_PORT": str(free_port()), "MANDI_KITESIM_PORT": str(kitesim),
        "MANDI_KITE_ROOT": f"http://127.0.0.1:{kitesim}",
        "MANDI_KITE_WS_ROOT": f"ws://127.0.0.1:{kitesim}/ws",
        "MANDI_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # the fuzz sends thousands of requests a minute from one address and one user
        "MANDI_GATEWAY_RATE_USER": "off", "MANDI_GATEWAY_RATE_IP": "off",
        "MANDI_LOGIN_MAX_FAILURES": "1000000",
        "MANDI_REDIS_PREFIX": f"fuzz-{uuid.uuid4().hex[:8]}"}


def identities(gateway: str) -> dict[str, dict[str, str]]:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        admin = bearer(http, "admin", ADMIN_PASSWORD)
        out = {"nobody": {}}
        for user, role in USERS.items():
            password = f"{user}-password-1"
            r = http.post("/api/v1/users", headers=admin,
                          json={"username": user, "password": password, "role": role})
            assert r.status_code == 201, r.text
            r = http.post("/api/v1/accounts/PAPER1/grants", headers=admin,
                          json={"username": user})
            assert r.status_code == 201, r.text
            out[role] = bearer(http, user, password)
        out["admin"] = admin
        return out


def run_fuzz_platform(examples: int, log_path: str | None = None) -> FuzzResult:
    env = platform_env()
    gateway = f"http://127.0.0.1:{env['MANDI_GATEWAY_PORT']}"
    got: list[FuzzResult] = []

    async def main() -> None:
        async with fresh_database() as dsn:
            env["MANDI_PG_DSN"] = dsn

            def while_up() -> None:
                who = identities(gateway)  # after the gateway has migrated and logged in
                asyncio.run(install_watch(dsn))
                got.append(fuzz(gateway, who, examples, dsn, skip=SKIP))

            await asyncio.to_thread(run_smoke, 60.0, log_path, env, while_up)

    with TemporaryDirectory() as tmp:
        log_path = log_path or str(Path(tmp) / "platform.log")
        try:
            asyncio.run(main())
        except BaseException:
            print(Path(log_path).read_text(errors="replace")[-6000:])
            raise
    return got[0]
