"""Broker accounts: id (the Kite user id), broker kind, encrypted credentials and risk limits.

Credentials are Fernet-sealed at rest by mandi.platform.secret_box (MANDI_SECRET_KEY or the
host's generated key file; `rotate_credentials` re-seals them under the first key). Decrypted
values live only in memory, in objects whose repr hides them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import asyncpg

from mandi.core.errors import ConfigError, InvalidInput, NotFound
from mandi.platform.logging import register_secret
from mandi.platform.secret_box import RotationCount, SecretBox

BROKERS = ("kite", "paper")


@dataclass(frozen=True)
class RiskLimits:
    max_order_quantity: int = 100_000
    max_order_value_paise: int = 100_000_000
    max_open_positions: int = 90
    max_capital_per_position_paise: int = 200_000_000
    daily_loss_limit_paise: int = 500_000
    price_collar_pct: float = 5.0
    max_orders_per_second: int = 10
    enforce_market_hours: bool = True
    algo_id: str = ""
    # every open position together; the default (90 × ₹20 lakh) never binds before the
    # per-position cap does. Seed 003's ladder sets ₹3,000 per position and ₹2,40,000 in all.
    max_total_exposure_paise: int = 18_000_000_000
    square_off_on_loss_limit: bool = False   # square off open positions when the loss limit hits

    def validate(self) -> RiskLimits:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
                raise InvalidInput(f"{f.name} must be > 0", field=f.name)
        if len(self.algo_id) > 64:
            raise InvalidInput("algo_id is too long", field="algo_id")
        return self


LIMIT_COLUMNS = tuple(f.name for f in fields(RiskLimits))


@dataclass(frozen=True)
class Credentials:
    api_key: str = ""
    api_secret: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    root: str = ""                 # Kite REST root; empty → production
    ws_root: str = ""


@dataclass(frozen=True)
class Account:
    account_id: str
    broker: str
    name: str = ""
    credentials: Credentials = field(default_factory=Credentials, repr=False)
    emergency_stop: bool = False
    session_state: str = "unknown"


class CredentialBox:
    """Seals/opens credential JSON with a SecretBox (a plain string: a one-key box, for tests)."""

    OPENED_MAX = 4096

    def __init__(self, box: SecretBox | str) -> None:
        self.box = box if isinstance(box, SecretBox) else SecretBox([box])
        # sealed blob -> what it opened to: an account row is read on every order and every
        # worker cycle, and a Fernet open (HMAC + AES) each time was ~2 % of execution's CPU.
        # A changed credential is a new blob (a fresh IV), so it is opened afresh.
        self._opened: dict[bytes, Credentials] = {}

    def seal(self, creds: Credentials) -> bytes:
        return self.box.seal(json.dumps(creds.__dict__).encode())

    def open(self, blob: bytes | None) -> Credentials:
        if not blob:
            return Credentials()
        blob = bytes(blob)
        creds = self._opened.get(blob)
        if creds is not None:
            return creds
        data = json.loads(self.box.open(blob, "stored broker credentials"))
        creds = Credentials(**{k: v for k, v in data.items() if k in Credentials.__annotations__})
        register_secret(creds.api_secret, creds.access_token)  # never in a log line
        if len(self._opened) >= self.OPENED_MAX:
            self._opened.clear()
        self._opened[blob] = creds
        return creds


class AccountStore:
    def __init__(self, pool: asyncpg.Pool, box: CredentialBox) -> None:
        self.pool = pool
        self.box = box
        self.notify: Callable[[str, dict[str, Any]], None] | None = None

    async def create(self, account_id: str, broker: str, *, name: str = "",
                     credentials: Credentials | None = None,
                     limits: RiskLimits | None = None) -> Account:
        if broker not in BROKERS:
            raise InvalidInput(f"broker must be one of {BROKERS}", field="broker")
        if not account_id or len(account_id) > 32 or not account_id.replace("_", "").isalnum():
            raise InvalidInput("account_id must be 1-32 letters/digits", field="account_id")
        creds = credentials or Credentials()
        lim = (limits or RiskLimits()).validate()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO accounts (account_id, broker, name, credentials) VALUES ($1,$2,$3,$4)"
                " ON CONFLICT (account_id) DO UPDATE SET name = EXCLUDED.name,"
                " credentials = EXCLUDED.credentials"
                " WHERE accounts.broker = EXCLUDED.broker",
                account_id, broker, name, self.box.seal(creds))
            cols = ", ".join(LIMIT_COLUMNS)
            params = ", ".join(f"${i + 2}" for i in range(len(LIMIT_COLUMNS)))
            await conn.execute(
                f"INSERT INTO risk_limits (account_id, {cols}) VALUES ($1, {params})"
                " ON CONFLICT (account_id) DO NOTHING",
                account_id, *(getattr(lim, c) for c in LIMIT_COLUMNS))
        return await self.get(account_id)

    async def get(self, account_id: str) -> Account:
        if not account_id:
            raise InvalidInput("account_id is required", field="account_id")
        row = await self.pool.fetchrow("SELECT * FROM accounts WHERE account_id = $1", account_id)
        if row is None:
            raise NotFound(f"no account {account_id!r}", field="account_id")
        return self._account(row)

    def _account(self, row: Any, *, decrypt: bool = True) -> Account:
        return Account(account_id=row["account_id"], broker=row["broker"], name=row["name"],
                       credentials=self.box.open(row["credentials"]) if decrypt
                       else Credentials(),
                       emergency_stop=row["emergency_stop"], session_state=row["session_state"])

    async def list(self) -> list[Account]:
        """Every account, *without* credentials (use `get` to build a broker): listing must
        neither need the key nor fail on one account whose credentials cannot be opened."""
        rows = await self.pool.fetch("SELECT * FROM accounts ORDER BY account_id")
        return [self._account(r, decrypt=False) for r in rows]

    async def rotate_credentials(self) -> RotationCount:
        """Re-seal every account's credentials under the first key (one transaction, rows
        locked); accounts no key opens are counted, left as they are."""
        count = RotationCount()
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch("SELECT account_id, credentials FROM accounts"
                                    " WHERE credentials IS NOT NULL AND length(credentials) > 0"
                                    " ORDER BY account_id FOR UPDATE")
            for row in rows:
                try:
                    sealed = self.box.box.rotate(row["credentials"], "stored broker credentials")
                except ConfigError:
                    count += RotationCount(unreadable=1)
                    continue
                if sealed is None:
                    count += RotationCount(current=1)
                    continue
                await conn.execute("UPDATE accounts SET credentials = $2 WHERE account_id = $1",
                                   row["account_id"], sealed)
                count += RotationCount(rotated=1)
        return count

    async def limits(self, account_id: str) -> RiskLimits:
        row = await self.pool.fetchrow(
            f"SELECT {', '.join(LIMIT_COLUMNS)} FROM risk_limits WHERE account_id = $1",
            account_id)
        if row is None:
            raise NotFound(f"no account {account_id!r}", field="account_id")
        return RiskLimits(**dict(row))

    async def set_limits(self, account_id: str, limits: RiskLimits, actor: str) -> RiskLimits:
        limits.validate()
        sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(LIMIT_COLUMNS))
        n = len(LIMIT_COLUMNS)
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                f"UPDATE risk_limits SET {sets}, updated_at = now(), updated_by = ${n + 2}"
                " WHERE account_id = $1",
                account_id, *(getattr(limits, c) for c in LIMIT_COLUMNS), actor)
            if status.endswith(" 0"):
                raise NotFound(f"no account {account_id!r}", field="account_id")
            await conn.execute(
                "INSERT INTO audit_logs (account_id, ts, actor, action, detail)"
                " VALUES ($1, now(), $2, 'risk_limits_set', $3)",
                account_id, actor, json.dumps(limits.__dict__))
        return limits

    async def set_session_state(self, account_id: str, state: str) -> None:
        """Store the broker session's state; the step into "expired" notifies the user once
        (`notify`, set by the wiring, is fire and forget)."""
        before = await self.pool.fetchval(
            "UPDATE accounts a SET session_state = $2,"
            " session_renewed_at = CASE WHEN $2 = 'ok' THEN now() ELSE a.session_renewed_at END"
            " FROM (SELECT session_state FROM accounts WHERE account_id = $1 FOR UPDATE) old"
            " WHERE a.account_id = $1 RETURNING old.session_state", account_id, state)
        if state == "expired" and before not in (None, "expired") and self.notify is not None:
            self.notify("session_expired", {"account_id": account_id})
