"""Manage broker accounts (the gRPC API has no account-creation RPC yet; admins use this).

    python -m services.execution.accounts_cli add --id ZX1234 --broker kite \\
        --api-key KEY --api-secret-env KITE_SECRET --access-token-env KITE_TOKEN
    python -m services.execution.accounts_cli add --id PAPER2 --broker paper
    python -m services.execution.accounts_cli list
    python -m services.execution.accounts_cli rotate-secrets

Secrets are read from environment variables named on the command line, never from argv (which
other users can see in `ps`), and are stored encrypted (mandi.platform.secret_box).
`rotate-secrets` re-seals every stored secret — account credentials and the daily Kite access
tokens in Redis — under MANDI_SECRET_KEY's first key and prints what it did; running it again
changes nothing. It exits 1 when some secret no configured key opens (left as it was).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from mandi.core.errors import MandiError
from mandi.kite.session_store import session_store
from mandi.platform.config import load_settings
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.platform.redis import create_redis
from mandi.platform.secret_box import secret_box
from services.execution.accounts import AccountStore, CredentialBox, Credentials
from services.execution.wiring import MIGRATIONS


async def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    await run_migrations(settings.pg_dsn, "execution", MIGRATIONS)
    pool = await create_pool(settings.pg_dsn, schema="execution")
    try:
        store = AccountStore(pool, CredentialBox(secret_box(settings)))
        if args.cmd == "rotate-secrets":
            return await rotate(settings, store)
        if args.cmd == "add":
            creds = Credentials(
                api_key=args.api_key or "",
                api_secret=os.environ.get(args.api_secret_env or "", ""),
                access_token=os.environ.get(args.access_token_env or "", ""),
                root=args.root or "", ws_root=args.ws_root or "")
            account = await store.create(args.id, args.broker, name=args.name or "",
                                         credentials=creds)
            print(f"account {account.account_id} ({account.broker}) saved")
        else:
            for a in await store.list():
                print(f"{a.account_id}\t{a.broker}\t{a.name}\tsession={a.session_state}"
                      f"\temergency_stop={a.emergency_stop}")
        return 0
    except MandiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await pool.close()


async def rotate(settings, store: AccountStore) -> int:
    accounts = await store.rotate_credentials()
    redis = create_redis(settings.redis_url)
    try:
        tokens = await session_store(settings, redis).rotate()
    finally:
        await redis.aclose()
    for what, c in (("broker credentials", accounts), ("kite access tokens", tokens)):
        print(f"{what}: {c.rotated} re-encrypted, {c.current} already current, "
              f"{c.unreadable} unreadable")
    return 1 if accounts.unreadable or tokens.unreadable else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Mandi execution accounts")
    sub = ap.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser("add")
    add.add_argument("--id", required=True)
    add.add_argument("--broker", choices=("kite", "paper"), required=True)
    add.add_argument("--name")
    add.add_argument("--api-key")
    add.add_argument("--api-secret-env", help="environment variable holding the API secret")
    add.add_argument("--access-token-env", help="environment variable holding the token")
    add.add_argument("--root", help="Kite REST root (default: MANDI_KITE_ROOT)")
    add.add_argument("--ws-root", help="Kite WebSocket root (default: MANDI_KITE_WS_ROOT)")
    sub.add_parser("list")
    sub.add_parser("rotate-secrets", help="re-encrypt every stored secret with the first key "
                   "of MANDI_SECRET_KEY")
    return asyncio.run(run(ap.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
