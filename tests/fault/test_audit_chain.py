"""Scenario 20 (audit part): the audit log is append-only — UPDATE, DELETE and TRUNCATE are
refused by the database — and hash-chained per account; a row altered behind the triggers'
back (a superuser disabling them) or removed is named by the verifier."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from services.execution import audit_chain
from services.execution.ledger import audit
from tests.integration.execution.kit import Env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def _write(env: Env, aid: str, n: int) -> None:
    # concurrent writers on one account: the chain must still be one line, no fork
    async def one(i: int) -> None:
        async with env.pool.acquire() as conn:
            await audit(conn, aid, "test", "probe", env.clock.now(), i=i, note="ü|x:1")
    await asyncio.gather(*(one(i) for i in range(n)))


async def test_audit_log_when_tampered_verifier_names_the_row(env: Env) -> None:
    aid = env.account_id
    await _write(env, aid, 40)
    n, breaks = await audit_chain.verify(env.pool, aid)
    assert n == 40 and breaks == []
    seqs = [r["chain_seq"] for r in await env.pool.fetch(
        "SELECT chain_seq FROM audit_logs WHERE account_id = $1 ORDER BY chain_seq", aid)]
    assert seqs == list(range(1, 41))

    ids = [r["id"] for r in await env.pool.fetch(
        "SELECT id FROM audit_logs WHERE account_id = $1 ORDER BY chain_seq", aid)]
    refused = 0
    for sql in ("UPDATE audit_logs SET action = 'x' WHERE id = $1",
                "DELETE FROM audit_logs WHERE id = $1"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await env.pool.execute(sql, ids[5])
        refused += 1
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await env.pool.execute("TRUNCATE audit_logs")
    refused += 1
    assert (await audit_chain.verify(env.pool, aid))[1] == []

    # A superuser goes around the triggers: alters one row, removes another.
    async with env.pool.acquire() as conn:
        await conn.execute("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_change")
        try:
            await conn.execute("UPDATE audit_logs SET detail = '{\"i\": 999}' WHERE id = $1",
                               ids[7])
            await conn.execute("DELETE FROM audit_logs WHERE id = $1", ids[20])
        finally:
            await conn.execute("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_change")
    n, breaks = await audit_chain.verify(env.pool, aid)
    named = {(b.row_id, b.reason.split(":")[0]) for b in breaks}
    assert (ids[7], "hash does not match the row") in named
    assert any(b.row_id == ids[21] and "removed" in b.reason for b in breaks)
    assert len(breaks) == 2, breaks
    # other accounts' chains are untouched
    other = await env.add_account()
    await _write(env, other, 3)
    assert (await audit_chain.verify(env.pool, other)) == (3, [])
    print(f"\n[fault] audit chain: rows=40 refused={refused} tampered=2 named={len(breaks)}")
