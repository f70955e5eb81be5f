"""Verify the audit log's hash chain (migration 008): per account, rows in chain order must
number 1, 2, 3… with no gap, each `prev_hash` must be the hash of the row before it, each
`hash` must be sha256 of the row's own fields (recomputed here, independently of the SQL
trigger that wrote it), and the chain head (`audit_chain`) must point at the last row — so an
altered, removed or appended-behind-the-back row is named by its id.

    python -m services.execution.audit_chain [--account ID]   # exit 1 when a link is broken
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ROWS = ("SELECT id, account_id, chain_seq, prev_hash, hash, ts, actor, action,"
        " detail::text AS detail_text FROM audit_logs"
        " WHERE ($1::text IS NULL OR account_id = $1) ORDER BY account_id, chain_seq")
HEADS = ("SELECT account_id, last_seq, last_hash FROM audit_chain"
         " WHERE ($1::text IS NULL OR account_id = $1)")


@dataclass(frozen=True)
class Break:
    account_id: str
    row_id: int | None  # None: the break is at the chain's head (rows missing at the end)
    reason: str


def row_hash(prev: str, seq: int, account_id: str, ts: datetime, actor: str, action: str,
             detail_text: str) -> str:
    """The same payload as the SQL function audit_payload: each field length-prefixed."""
    fields = [prev, str(seq), account_id,
              ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f"), actor, action, detail_text]
    payload = "|".join(f"{len(f)}:{f}" for f in fields)
    return hashlib.sha256(payload.encode()).hexdigest()


async def verify(conn: Any, account_id: str | None = None) -> tuple[int, list[Break]]:
    """(rows checked, breaks found) over one account or all of them."""
    rows = await conn.fetch(ROWS, account_id)
    heads = {r["account_id"]: r for r in await conn.fetch(HEADS, account_id)}
    breaks: list[Break] = []
    last: dict[str, tuple[int, str]] = {}
    for r in rows:
        aid = r["account_id"]
        seq, prev = last.get(aid, (0, ""))
        if r["chain_seq"] != seq + 1:
            breaks.append(Break(aid, r["id"], f"chain_seq {r['chain_seq']} follows {seq}: "
                                              f"{r['chain_seq'] - seq - 1} row(s) removed"))
        elif r["prev_hash"] != prev:
            breaks.append(Break(aid, r["id"], "prev_hash is not the previous row's hash"))
        want = row_hash(r["prev_hash"], r["chain_seq"], aid, r["ts"], r["actor"], r["action"],
                        r["detail_text"])
        if want != r["hash"]:
            breaks.append(Break(aid, r["id"], "hash does not match the row: altered"))
        last[aid] = (r["chain_seq"], r["hash"])
    for aid, head in heads.items():
        seq, h = last.get(aid, (0, ""))
        if (head["last_seq"], head["last_hash"]) != (seq, h):
            breaks.append(Break(aid, None, f"chain head is at {head['last_seq']}, the last "
                                           f"row at {seq}: rows removed from the end"))
    for aid in set(last) - set(heads):
        breaks.append(Break(aid, None, "rows without a chain head"))
    return len(rows), breaks


async def _main(argv: list[str]) -> int:
    from mandi.platform.config import load_settings
    from mandi.platform.db import create_pool

    p = argparse.ArgumentParser(prog="python -m services.execution.audit_chain")
    p.add_argument("--account", default=None)
    args = p.parse_args(argv)
    pool = await create_pool(load_settings().pg_dsn, schema="execution")
    try:
        n, breaks = await verify(pool, args.account)
    finally:
        await pool.close()
    for b in breaks:
        print(f"BROKEN {b.account_id} row {b.row_id}: {b.reason}")
    print(f"audit chain: {n} rows checked, {len(breaks)} broken link(s)")
    return 1 if breaks else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1:])))
