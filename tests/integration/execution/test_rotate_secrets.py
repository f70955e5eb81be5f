"""Key rotation over real PostgreSQL and Redis, through the CLI an operator runs: account
credentials (sealed under the old key, and under the legacy key derived from the Kite API secret
before the upgrade) and the stored Kite access token are re-sealed under the new first key; a
second run changes nothing; afterwards the old key can be removed and everything still opens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import sys
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from mandi.kite.session_store import KiteSessionStore
from mandi.platform.db import create_pool
from mandi.platform.secret_box import SecretBox
from mandi.testing.kitesim import REPO_ROOT
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from services.execution.accounts import AccountStore, CredentialBox

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

OLD, NEW = "old-" + "o" * 40, "new-" + "n" * 40
KITE_SECRET = "kite-secret-before-upgrade"


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.execution.accounts_cli", *args, cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env})
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_rotate_secrets_reseals_everything_once_then_old_key_can_go() -> None:
    async with fresh_database() as dsn, redis_namespace() as ns:
        base = {"MANDI_PG_DSN": dsn, "MANDI_REDIS_URL": ns.url,
                "MANDI_REDIS_PREFIX": ns.prefix + "rot", "MANDI_KITE_API_SECRET": KITE_SECRET}
        for aid, tok in (("ROT1", "tok-one-secret"), ("ROT2", "tok-two-secret")):
            code, out = await _cli({**base, "MANDI_SECRET_KEY": OLD, "TOK": tok}, "add", "--id",
                                   aid, "--broker", "kite", "--access-token-env", "TOK")
            assert code == 0, out
        pool = await create_pool(dsn, schema="execution")
        try:
            # ROT3: sealed before the upgrade, under the key derived from the Kite API secret
            legacy = Fernet(base64.urlsafe_b64encode(hashlib.sha256(
                b"mandi-execution-credentials:" + KITE_SECRET.encode()).digest()))
            await pool.execute(
                "INSERT INTO accounts (account_id, broker, name, credentials)"
                " VALUES ('ROT3', 'kite', '', $1)",
                legacy.encrypt(json.dumps({"access_token": "tok-legacy-secret"}).encode()))
            tokens = KiteSessionStore(ns.client, ns.prefix + "rot", SecretBox([OLD]))
            await tokens.put("apikey1", "kite-access-token-1", datetime.now(UTC))

            env = {**base, "MANDI_SECRET_KEY": f"{NEW},{OLD}"}
            code, out = await _cli(env, "rotate-secrets")
            assert code == 0, out
            assert "broker credentials: 3 re-encrypted, 0 already current, 0 unreadable" in out
            assert "kite access tokens: 1 re-encrypted, 0 already current, 0 unreadable" in out
            code, out = await _cli(env, "rotate-secrets")  # idempotent
            assert code == 0, out
            assert "broker credentials: 0 re-encrypted, 3 already current, 0 unreadable" in out
            assert "kite access tokens: 0 re-encrypted, 1 already current, 0 unreadable" in out
            assert not any(s in out for s in (OLD, NEW, "tok-one-secret", "kite-access-token"))

            # the old key (and the Kite secret) removed: everything opens with the new key alone
            only_new = SecretBox([NEW])
            store = AccountStore(pool, CredentialBox(only_new))
            got = {a: (await store.get(a)).credentials.access_token
                   for a in ("ROT1", "ROT2", "ROT3")}
            assert got == {"ROT1": "tok-one-secret", "ROT2": "tok-two-secret",
                           "ROT3": "tok-legacy-secret"}
            after = KiteSessionStore(ns.client, ns.prefix + "rot", only_new)
            assert await after.token("apikey1") == "kite-access-token-1"

            # a key that opens nothing: the CLI says so (exit 1) and names the setting's effect
            code, out = await _cli({**base, "MANDI_SECRET_KEY": "z" * 40,
                                    "MANDI_KITE_API_SECRET": "other"}, "rotate-secrets")
            assert code == 1
            assert "broker credentials: 0 re-encrypted, 0 already current, 3 unreadable" in out
            assert "z" * 40 not in out
        finally:
            await pool.close()
