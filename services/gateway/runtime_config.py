"""Platform settings an admin may change while Mandi runs (`PUT /api/v1/config`), and the rest.

Every other setting is read once from `MANDI_*` at process start (mandi/platform/config.py) and
is fixed for the life of each process: addresses, ports, DSNs, secrets, leases, the clock, the
notifier's retries … Changing one over the API would leave some processes on the old value, so
it is refused (400, "needs a restart"); secrets are never accepted or returned.

Runtime-changeable (stored in `gateway.platform_settings`, applied by every gateway replica
within `REFRESH_S`, and at once by the replica that took the change):

* `log_level` — the gateway process's log level;
* `gateway_rate_user`, `gateway_rate_ip` — the REST rate-limit windows (auth/rest_limits.py),
  as in the environment: "50/1,2000/60" or "off".

Values are given as the environment variable's text and parsed by the same parser
(`config.parse_setting`), so an override can never hold what the environment could not.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from datetime import datetime, time
from enum import Enum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mandi.core.errors import InvalidInput
from mandi.platform.config import Settings, parse_setting
from services.gateway.auth.rest_limits import RestLimits
from services.gateway.prefs_store import PrefsStore

log = logging.getLogger(__name__)

RUNTIME = {
    "log_level": "the gateway's log level",
    "gateway_rate_user": "REST rate-limit windows per signed-in user",
    "gateway_rate_ip": "REST rate-limit windows per client IP address",
}
REFRESH_S = 15.0
REDACTED = "<redacted>"


def env_name(key: str) -> str:
    return "MANDI_" + key.upper()


def parse_change(key: str, value: Any) -> Any:
    """The parsed value of one requested change, or InvalidInput naming `key`."""
    known = {f.name: f for f in dataclasses.fields(Settings)}
    if key not in known:
        raise InvalidInput(f"unknown setting {key!r}", field=key)
    if key not in RUNTIME:
        raise InvalidInput(f"{key} needs a restart: set {env_name(key)} and restart the "
                           f"services (changeable at run time: {', '.join(RUNTIME)})", field=key)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise InvalidInput(f"{key} must be given as text, as in {env_name(key)}", field=key)
    try:
        return parse_setting(key, str(value))
    except ValueError as exc:
        raise InvalidInput(f"{key}: {exc}", field=key) from None


def effective(settings: Settings, overrides: dict[str, dict[str, Any]]) -> Settings:
    """`settings` with the stored overrides of runtime settings (an unreadable one is skipped
    and logged, never fatal)."""
    values = {}
    for key, row in overrides.items():
        try:
            values[key] = parse_change(key, row["value"])
        except InvalidInput as exc:
            log.warning("config: ignoring stored override: %s", exc.message)
    return dataclasses.replace(settings, **values)


def _text(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, time)):
        return value.isoformat()
    if isinstance(value, tuple):
        if value and all(isinstance(v, tuple) for v in value):  # rate windows
            return ",".join(f"{n}/{s:g}" for n, s in value)
        return ",".join(str(v) for v in value)
    return value


def _strip_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:{REDACTED}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def redacted(settings: Settings) -> dict[str, Any]:
    """Every setting by name, secrets (the repr=False fields, passwords inside URLs and any
    value holding a configured secret) replaced by REDACTED; an unset secret is ""."""
    secrets = [s for s in settings.secret_values() if len(s) >= 4]
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if not f.repr:
            out[f.name] = REDACTED if value else ""
            continue
        value = _text(value)
        if isinstance(value, str):
            if "://" in value:
                value = _strip_password(value)
            for s in secrets:
                value = value.replace(s, REDACTED)
        out[f.name] = value
    return out


class RuntimeConfig:
    """Applies the stored overrides to this gateway process, and re-reads them periodically."""

    def __init__(self, settings: Settings, auth: Any) -> None:
        self.settings = settings
        self.auth = auth  # AuthHost: its pool holds the overrides, its limits are replaced
        self.current = settings
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> Settings:
        host = await self.auth.wait()
        overrides = await PrefsStore(host.pool).platform_overrides()
        self.apply(effective(self.settings, overrides))
        return self.current

    def apply(self, new: Settings) -> None:
        old, self.current = self.current, new
        if new.log_level != old.log_level:
            logging.getLogger().setLevel(new.log_level)
            log.info("config: log level is now %s", new.log_level)
        limits = getattr(self.auth, "limits", None)
        if limits is not None and (tuple(new.gateway_rate_user) != limits.per_user
                                   or tuple(new.gateway_rate_ip) != limits.per_ip):
            self.auth.limits = RestLimits(limits.redis, new.redis_prefix,
                                          new.gateway_rate_user, new.gateway_rate_ip)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="runtime-config")

    async def _loop(self) -> None:
        while True:
            pause = REFRESH_S
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away: keep the last values
                log.debug("config: refresh failed: %s", exc)
                pause = 1.0  # the stored overrides apply soon after the database is back
            await asyncio.sleep(pause)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

