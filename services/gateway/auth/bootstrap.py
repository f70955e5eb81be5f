"""First run: when no user exists, create `admin` with MANDI_ADMIN_PASSWORD, or with a generated
password that is printed once on standard output (never logged) and written to
MANDI_ADMIN_PASSWORD_FILE (default ~/.mandi/admin-password), mode 0600."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from mandi.core.errors import ConfigError, InvalidInput
from mandi.platform.config import Settings
from services.gateway.auth import passwords
from services.gateway.auth.store import AuthStore

log = logging.getLogger(__name__)
ADMIN = "admin"


def write_secret_file(name: str, text: str) -> Path:
    """Write `text` to the file `name` (~ expanded), readable and writable only by its owner
    (a folder it creates too); its path."""
    path = Path(name).expanduser()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    return path


async def ensure_admin(store: AuthStore, settings: Settings) -> bool:
    """Create the first admin if there is no user; True when it did."""
    given = settings.admin_password
    if given:
        try:
            passwords.check_new(given, field="MANDI_ADMIN_PASSWORD")
        except InvalidInput as exc:
            raise ConfigError(exc.message, field="MANDI_ADMIN_PASSWORD") from None
    password = given or passwords.generate()
    if not await store.create_user(ADMIN, await passwords.hash_off_loop(password), "admin",
                                   if_none=True):
        return False
    await store.audit("system", "user.create", ADMIN, detail={"role": "admin",
                                                               "first_run": True})
    if given:
        log.info("gateway: no users yet; created %r with the password from "
                 "MANDI_ADMIN_PASSWORD", ADMIN)
        return True
    path = await asyncio.to_thread(write_secret_file, settings.admin_password_file,
                                   password + "\n")
    print(f"Mandi: no users yet; created user {ADMIN!r} with password {password}\n"
          f"Mandi: the password is also in {path} (readable only by you). This is shown once.",
          file=sys.stdout, flush=True)
    log.info("gateway: created the first user %r; its password was printed and written to %s",
             ADMIN, path)
    return True
