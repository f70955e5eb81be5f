"""Fuzz every route of the gateway's OpenAPI document with schemathesis against a running
platform: as nobody, a viewer, a trader and an admin, each operation gets `examples`
generated requests (hypothesis, schema-driven: wrong types, huge numbers, NUL bytes, lone
surrogates, missing fields...). Two properties are checked on every answer:

* no 5xx — any is recorded with the operation, the status, the body and a curl line;
* a refused request (4xx) stores nothing: row triggers on every table of the services'
  schemas (installed once the services have migrated) log each write with the
  writing process's `application_name`; a write that lands while a refused request is in
  flight is a finding, unless it is one of `EXPECTED_ON_REFUSAL` (the audit of a refusal, the
  revocation of a refresh family that was replayed), or it is written by a background worker
  (`BACKGROUND_APPS`, told apart by its connection's `application_name`: the notifier stores
  the notifications of earlier, accepted requests whenever their events arrive).

`python -m mandi.testing.api_fuzz --examples N` starts its own platform (scripts.smoke) on
free ports and a fresh database, runs the fuzz and prints the figures (`make fuzz`); the e2e
test `tests/e2e/test_api_fuzz.py` runs a smaller pass inside `make test`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings

SCHEMAS = ("gateway", "history", "strategy", "execution", "marketdata")
# tables a refused request writes by design: its audit (failed sign-ins, refused orders), and
# the revoked refresh family of a replayed refresh token (the login throttle is in Redis);
# execution.audit_chain is the head of the audit log's hash chain, moved by every audit row
EXPECTED_ON_REFUSAL = {"gateway.audit_log", "execution.audit_logs", "execution.audit_chain",
                       "gateway.auth_tokens"}
BACKGROUND_APPS = {"mandi-gateway-notifier"}

INSTALL = """
CREATE SCHEMA IF NOT EXISTS fuzzwatch;
CREATE TABLE IF NOT EXISTS fuzzwatch.writes (
    id bigserial PRIMARY KEY, tbl text NOT NULL, op text NOT NULL,
    app text NOT NULL DEFAULT current_setting('application_name'), at timestamptz DEFAULT now());
CREATE OR REPLACE FUNCTION fuzzwatch.note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO fuzzwatch.writes (tbl, op) VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP);
  RETURN NULL;
END $$;
"""


@dataclass
class FuzzResult:
    requests: int = 0
    operations: int = 0
    by_status: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    refused_writes: list[str] = field(default_factory=list)
    accepted_writes: int = 0  # rows written by accepted requests: proof the watch sees writes
    seconds: float = 0.0

    def summary(self) -> str:
        classes = Counter()
        for status, n in self.by_status.items():
            classes[f"{status // 100}xx"] += n
        return (f"{self.requests} requests over {self.operations} operations in "
                f"{self.seconds:.0f} s ({self.requests / max(self.seconds, 1e-9):.0f}/s): "
                f"{dict(sorted(classes.items()))}; 5xx {len(self.server_errors)}, writes by "
                f"refused requests {len(self.refused_writes)} (by accepted ones "
                f"{self.accepted_writes})")


async def install_watch(dsn: str) -> int:
    """Statement triggers on every table of the services' schemas; returns how many."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(INSTALL)
        rows = await conn.fetch(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid ="
            " c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1::text[])"
            " AND NOT c.relispartition", list(SCHEMAS))
        for r in rows:
            await conn.execute(
                f'CREATE OR REPLACE TRIGGER fuzzwatch AFTER INSERT OR UPDATE OR DELETE '
                f'ON "{r["nspname"]}"."{r["relname"]}" FOR EACH ROW '
                f'EXECUTE FUNCTION fuzzwatch.note()')
        return len(rows)
    finally:
        await conn.close()


class Watch:
    """Reads the write log between two points (sync, for hypothesis' sync test bodies)."""

    def __init__(self, dsn: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncpg.connect(dsn))

    def mark(self) -> int:
        return self.loop.run_until_complete(
            self.conn.fetchval("SELECT coalesce(max(id), 0) FROM fuzzwatch.writes"))

    def since(self, mark: int) -> list[tuple[str, str, str]]:
        rows = self.loop.run_until_complete(self.conn.fetch(
            "SELECT tbl, op, app FROM fuzzwatch.writes WHERE id > $1 ORDER BY id", mark))
        return [(r["tbl"], r["op"], r["app"]) for r in rows]

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


def _unexpected(writes: list[tuple[str, str, str]]) -> list[str]:
    return [f"{op} {tbl} by {app}" for tbl, op, app in writes
            if tbl not in EXPECTED_ON_REFUSAL and app not in BACKGROUND_APPS]


def _curl(case: Any, headers: dict[str, str]) -> str:
    who = "with " + ",".join(headers) if headers else "no credential"
    try:
        return f"{case.as_curl_command(headers=headers)[:600]} ({who})"
    except Exception:
        return f"{case.method} {case.formatted_path} ({who})"


def fuzz(gateway: str, identities: dict[str, dict[str, str]], examples: int, dsn: str,
         *, skip: set[tuple[str, str]] = frozenset()) -> FuzzResult:
    """Fuzz every operation as every identity; `skip` holds (METHOD, path) pairs not to call
    (e.g. the ones that log the caller out, which would end the run's own session)."""
    schema = schemathesis.openapi.from_url(f"{gateway}/openapi.json")
    out = FuzzResult()
    watch = Watch(dsn)
    ops = [r.ok() for r in schema.get_all_operations()]
    ops = [op for op in ops if (op.method.upper(), op.path) not in skip]
    out.operations = len(ops)
    started = time.monotonic()
    session = requests.Session()
    try:
        for who, headers in identities.items():
            for op in ops:
                _fuzz_operation(op, who, headers, examples, gateway, session, watch, out)
    finally:
        session.close()
        watch.close()
    out.seconds = time.monotonic() - started
    return out


def _fuzz_operation(op: Any, who: str, headers: dict[str, str], examples: int,
                    base_url: str, session: requests.Session, watch: Watch,
                    out: FuzzResult) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @hypothesis.given(case=op.as_strategy())
    def run(case: Any) -> None:
        mark = watch.mark()
        try:
            r = case.call(base_url=base_url, session=session, headers=dict(headers), timeout=30)
        except requests.RequestException as exc:
            out.server_errors.append(f"{who}: {op.method.upper()} {op.path}: no answer ({exc!r})"
                                     f" — {_curl(case, headers)}")
            return
        out.requests += 1
        out.by_status[r.status_code] += 1
        if r.status_code >= 500:
            out.server_errors.append(f"{who}: {op.method.upper()} {op.path} → {r.status_code}"
                                     f" {r.text[:300]!r} — {_curl(case, headers)}")
        elif r.status_code < 400:
            out.accepted_writes += len(watch.since(mark))
        else:
            wrote = _unexpected(watch.since(mark))
            if wrote:
                out.refused_writes.append(
                    f"{who}: {op.method.upper()} {op.path} → {r.status_code} yet {wrote}"
                    f" — {_curl(case, headers)}")

    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run()


# --- standalone: `make fuzz` ---------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=40, help="generated requests per operation "
                   "and identity (default 40)")
    p.add_argument("--log", help="write the platform's log here")
    args = p.parse_args(argv)
    from mandi.testing.fuzz_platform import run_fuzz_platform

    result = run_fuzz_platform(args.examples, args.log)
    print(f"fuzz: {result.summary()}")
    for line in result.server_errors[:50] + result.refused_writes[:50]:
        print(f"  {line}")
    return 1 if result.server_errors or result.refused_writes else 0


if __name__ == "__main__":
    sys.exit(main())
