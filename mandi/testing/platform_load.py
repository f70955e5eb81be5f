"""Shared by the load bench and the soak: the whole platform as `make run` starts it on a live
replayed kitesim session, paper accounts, a trader granted them, and the platform's processes
(for RSS) found by the supervisor's process group."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from mandi.testing.fuzz_platform import platform_env
from mandi.testing.gateway_auth import bearer

TRADER, TRADER_PW = "load-trader", "load-trader-password-1"


def live_env(day: str, speed: float, start: str = "10:00") -> dict[str, str]:
    """platform_env() on `day` from `start` IST at `speed`x (a session the services see live)."""
    return platform_env() | {"MANDI_KITESIM_START": f"{day}T{start}:00+05:30",
                             "MANDI_KITESIM_SPEED": f"{speed:g}"}


async def create_paper_accounts(env: dict[str, str], names: list[str]) -> None:
    """Paper accounts straight into execution's store (there is no account-creation RPC), sealed
    with the key the platform's processes use."""
    from mandi.platform.config import load_settings
    from mandi.platform.db import create_pool
    from mandi.platform.secret_box import secret_box
    from services.execution.accounts import AccountStore, CredentialBox

    settings = load_settings({**os.environ, **env})
    pool = await create_pool(settings.pg_dsn, schema="execution")
    try:
        store = AccountStore(pool, CredentialBox(secret_box(settings)))
        for name in names:
            await store.create(name, "paper")
    finally:
        await pool.close()


def trader_auth(gateway: str, admin_pw: str, accounts: list[str]) -> dict[str, str]:
    """Creates the trader, grants it `accounts`; returns its Bearer header."""
    with httpx.Client(base_url=gateway, timeout=30) as http:
        admin = bearer(http, "admin", admin_pw)
        r = http.post("/api/v1/users", headers=admin,
                      json={"username": TRADER, "password": TRADER_PW, "role": "trader"})
        assert r.status_code == 201, r.text
        for a in accounts:
            r = http.post(f"/api/v1/accounts/{a}/grants", headers=admin,
                          json={"username": TRADER})
            assert r.status_code == 201, r.text
        return bearer(http, TRADER, TRADER_PW)


def platform_processes(env: dict[str, str]) -> dict[str, int]:
    """{service name: pid} of the platform started with `env` (its supervisor is the one whose
    environment holds this gateway port; its children share its process group)."""
    port = env["MANDI_GATEWAY_PORT"]
    procs = Path("/proc")
    supervisor = None
    for p in procs.iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
            if b"scripts.supervisor" not in cmd:
                continue
            if f"MANDI_GATEWAY_PORT={port}".encode() in (p / "environ").read_bytes().split(b"\0"):
                supervisor = int(p.name)
                break
        except OSError:
            continue
    if supervisor is None:
        raise RuntimeError(f"no supervisor with gateway port {port}")
    out = {"supervisor": supervisor}
    for p in procs.iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            cmd = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        pgrp = int(stat.rsplit(")", 1)[1].split()[2])
        if pgrp != supervisor or len(cmd) < 3 or cmd[1] != b"-m":
            continue
        name = cmd[2].decode()
        if name.startswith("services."):
            out[name.removeprefix("services.")] = int(p.name)
    return out


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` in MiB (from /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")
