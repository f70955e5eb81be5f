"""The accounts CLI: secrets come from named environment variables and are stored encrypted."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from mandi.testing.kitesim import REPO_ROOT
from services.execution.accounts import AccountStore, CredentialBox
from tests.integration.execution.kit import Env, new_account_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
BOX_KEY = "cli-box-secret-" + "k" * 20


async def _cli(dsn: str, *args: str, **env: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.execution.accounts_cli", *args, cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "MANDI_PG_DSN": dsn, "PYTHONPATH": str(REPO_ROOT),
             "MANDI_SECRET_KEY": BOX_KEY, **env})
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_accounts_cli_when_adding_kite_account_stores_token_encrypted(
        env: Env, ledger_dsn: str) -> None:
    aid = new_account_id()
    code, out = await _cli(ledger_dsn, "add", "--id", aid, "--broker", "kite", "--api-key",
                           "k1", "--access-token-env", "TOK", TOK="tok-supersecret")
    assert code == 0, out
    code, out = await _cli(ledger_dsn, "list")
    assert aid in out and "tok-supersecret" not in out
    blob = await env.pool.fetchval("SELECT credentials FROM accounts WHERE account_id = $1", aid)
    assert b"tok-supersecret" not in bytes(blob)
    store = AccountStore(env.pool, CredentialBox(BOX_KEY))
    assert (await store.get(aid)).credentials.access_token == "tok-supersecret"
