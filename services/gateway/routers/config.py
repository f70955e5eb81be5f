"""Seed 002's `GET /api/v1/config` and `PUT /api/v1/config`.

GET: the effective platform settings (environment plus the runtime overrides, secrets
redacted: runtime_config.py), which of them may change at run time and the stored overrides,
and the caller's own preferences. PUT `{"platform": {...}, "user": {...}}`, both optional:

* `platform` — admins only (403 otherwise); each key must be a setting (unknown → 400 naming
  it) that may change at run time (else 400 "needs a restart"); applied at once on this replica
  and within 15 s on the others;
* `user` — the caller's preferences, merged into the stored ones (null removes a key); unknown
  keys → 400 naming them; `default_account` must be an account the caller holds (404 like any
  other account).

Every accepted PUT is written to the gateway's audit log (`config.update`), old and new values.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mandi.core.errors import NotFound, PermissionDenied
from mandi.core.intervals import parse_interval
from mandi.platform.protoconv import exchange_enum
from services.gateway.auth.enforce import Me
from services.gateway.prefs_store import PrefsStore
from services.gateway.routers.auth import Host, client_ip
from services.gateway.routers.watchlist import Prefs
from services.gateway.runtime_config import (
    RUNTIME,
    RuntimeConfig,
    env_name,
    parse_change,
    redacted,
)

router = APIRouter(prefix="/api/v1", tags=["config"])


class UserPrefs(BaseModel):
    """A user's own preferences; every key optional, null removes it."""

    model_config = ConfigDict(extra="forbid")
    default_account: str | None = Field(default=None, min_length=1, max_length=32)
    theme: Literal["navy", "light", "dark"] | None = None
    default_exchange: str | None = Field(default=None, max_length=8)
    default_interval: str | None = Field(default=None, max_length=16)
    page_size: int | None = Field(default=None, ge=10, le=500)

    @field_validator("default_exchange")
    @classmethod
    def _exchange(cls, v: str | None) -> str | None:
        if v is None:
            return None
        exchange_enum(v, field="default_exchange")
        return v.strip().upper()

    @field_validator("default_interval")
    @classmethod
    def _interval(cls, v: str | None) -> str | None:
        return None if v is None else parse_interval(v, field="default_interval").name


class ConfigBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    platform: dict[str, Any] | None = Field(default=None, max_length=len(RUNTIME))
    user: UserPrefs | None = None


async def runtime(request: Request) -> RuntimeConfig:
    return request.app.state.runtime


Runtime = Annotated[RuntimeConfig, Depends(runtime)]


async def _answer(rt: RuntimeConfig, store: PrefsStore, who: Me) -> dict[str, Any]:
    settings = await rt.refresh()
    overrides = await store.platform_overrides()
    return {"success": True, "platform": redacted(settings),
            "runtime_changeable": {k: {"description": d, "env": env_name(k)}
                                   for k, d in RUNTIME.items()},
            "overrides": overrides, "user": await store.user_settings(who.username)}


@router.get("/config")
async def get_config(rt: Runtime, store: Prefs, who: Me) -> dict[str, Any]:
    return await _answer(rt, store, who)


@router.put("/config")
async def put_config(request: Request, body: ConfigBody, rt: Runtime, store: Prefs, who: Me,
                     host: Host) -> dict[str, Any]:
    assert host.store is not None
    detail: dict[str, Any] = {}
    if body.platform:
        if not who.is_admin:
            raise PermissionDenied("only an admin may change platform settings",
                                   field="platform")
        for key, value in body.platform.items():
            parse_change(key, value)  # 400 naming the key
        before = redacted(rt.current)
        await store.set_platform({k: str(v) for k, v in body.platform.items()}, who.username)
        detail["platform"] = {k: {"old": before[k], "new": str(v)}
                              for k, v in body.platform.items()}
    if body.user is not None:
        given = body.user.model_dump(exclude_unset=True)
        account = given.get("default_account")
        if account and not who.holds(account):
            raise NotFound(f"no account {account!r}", field="default_account")
        old = await store.user_settings(who.username)
        new = {k: v for k, v in {**old, **given}.items() if v is not None}
        await store.set_user_settings(who.username, new)
        detail["user"] = {"old": old, "new": new}
    if detail:
        await host.store.audit(who.username, "config.update",
                               ",".join(sorted(detail)), ip=client_ip(request), detail=detail)
    return await _answer(rt, store, who)
