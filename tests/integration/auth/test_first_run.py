"""The first-run admin: created only while no user exists, with MANDI_ADMIN_PASSWORD or a
generated password printed once and written to a file only its owner can read."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mandi.core.errors import ConfigError
from mandi.platform.config import load_settings
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.testing.pg import fresh_database
from services.gateway.auth import passwords
from services.gateway.auth.bootstrap import ensure_admin
from services.gateway.auth.host import MIGRATIONS
from services.gateway.auth.store import AuthStore

pytestmark = pytest.mark.integration


async def test_generated_password_is_printed_once_and_written_0600(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret_file = tmp_path / "state" / "admin-password"
    settings = load_settings({"MANDI_ADMIN_PASSWORD_FILE": str(secret_file)})
    async with fresh_database() as dsn:
        await run_migrations(dsn, "gateway", MIGRATIONS)
        pool = await create_pool(dsn, schema="gateway", max_size=2)
        try:
            store = AuthStore(pool)
            assert await ensure_admin(store, settings) is True
            password = secret_file.read_text().strip()
            assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
            assert stat.S_IMODE(secret_file.parent.stat().st_mode) == 0o700
            out = capsys.readouterr().out
            assert out.count(password) == 1 and str(secret_file) in out
            stored, disabled = await store.password_hash("admin")
            assert passwords.verify(stored, password) and not disabled
            assert password not in (stored or "")
            # a second start (or replica) finds a user and changes nothing
            secret_file.unlink()
            assert await ensure_admin(store, settings) is False
            assert not secret_file.exists() and capsys.readouterr().out == ""
            assert (await store.get_user("admin"))["role"] == "admin"
        finally:
            await pool.close()


async def test_given_password_is_used_and_a_weak_one_refused(tmp_path: Path) -> None:
    async with fresh_database() as dsn:
        await run_migrations(dsn, "gateway", MIGRATIONS)
        pool = await create_pool(dsn, schema="gateway", max_size=2)
        try:
            store = AuthStore(pool)
            weak = load_settings({"MANDI_ADMIN_PASSWORD": "short"})
            with pytest.raises(ConfigError) as err:
                await ensure_admin(store, weak)
            assert err.value.field == "MANDI_ADMIN_PASSWORD" and "short" not in str(err.value)
            assert await store.count_users() == 0
            good = load_settings({"MANDI_ADMIN_PASSWORD": "a-proper-admin-password",
                                  "MANDI_ADMIN_PASSWORD_FILE": str(tmp_path / "unused")})
            assert await ensure_admin(store, good) is True
            assert not (tmp_path / "unused").exists()
            stored, _ = await store.password_hash("admin")
            assert passwords.verify(stored, "a-proper-admin-password")
        finally:
            await pool.close()


def test_settings_hide_auth_secrets() -> None:
    s = load_settings({"MANDI_ADMIN_PASSWORD": "a-proper-admin-password",
                       "MANDI_JWT_SECRET": "x" * 40})
    assert "a-proper-admin-password" not in repr(s) and "x" * 40 not in repr(s)
    with pytest.raises(ConfigError) as err:
        load_settings({"MANDI_JWT_SECRET": "too-short-secret"})
    assert "too-short-secret" not in str(err.value) and err.value.field == "MANDI_JWT_SECRET"
