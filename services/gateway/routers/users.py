"""Admin management of users, account grants and the audit log:

* `POST /api/v1/users` `{username, password, role}`, `GET /api/v1/users`,
  `GET/PATCH/DELETE /api/v1/users/{username}` (a new password, a role change or a disable ends
  the user's sessions and refresh tokens);
* `POST /api/v1/accounts/{account_id}/grants` `{username}`,
  `DELETE /api/v1/accounts/{account_id}/grants/{username}`;
* `GET /api/v1/audit` (newest first, `before_id` pages back).

The last enabled admin cannot be deleted, disabled or demoted. A grant names execution's
account id as given; it is not checked against the execution service (a grant of an account that
does not exist admits to nothing).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from mandi.core.errors import PreconditionFailed
from services.gateway.auth import passwords
from services.gateway.auth.enforce import Me
from services.gateway.routers.auth import Host, client_ip
from services.gateway.schemas.auth import LOGIN_NAME, NAME, GrantBody, UserBody, UserPatch

router = APIRouter(tags=["users"])
Username = Annotated[str, Path(pattern=LOGIN_NAME)]
AccountId = Annotated[str, Path(min_length=1, max_length=32, pattern=NAME)]


@router.post("/api/v1/users", status_code=201)
async def create_user(request: Request, body: UserBody, who: Me, host: Host) -> dict[str, Any]:
    assert host.store is not None
    passwords.check_new(body.password)
    await host.store.create_user(body.username, await passwords.hash_off_loop(body.password),
                                 body.role)
    await host.store.audit(who.username, "user.create", body.username, ip=client_ip(request),
                           detail={"role": body.role})
    return {"success": True, "user": await host.store.get_user(body.username)}


@router.get("/api/v1/users")
async def list_users(host: Host) -> dict[str, Any]:
    assert host.store is not None
    return {"success": True, "users": await host.store.list_users()}


@router.get("/api/v1/users/{username}")
async def get_user(username: Username, host: Host) -> dict[str, Any]:
    assert host.store is not None
    return {"success": True, "user": await host.store.get_user(username)}


async def _keep_an_admin(host: Host, username: str) -> None:
    assert host.store is not None
    user = await host.store.get_user(username)
    if user["role"] == "admin" and not user["disabled"] and await host.store.admins() <= 1:
        raise PreconditionFailed("that would leave no enabled admin", field="username")


@router.patch("/api/v1/users/{username}")
async def update_user(request: Request, username: Username, body: UserPatch, who: Me,
                      host: Host) -> dict[str, Any]:
    assert host.store is not None
    if body.disabled or (body.role is not None and body.role != "admin"):
        await _keep_an_admin(host, username)
    new_hash = None
    if body.password is not None:
        new_hash = await passwords.hash_off_loop(passwords.check_new(body.password))
    user = await host.store.update_user(username, role=body.role, password_hash=new_hash,
                                        disabled=body.disabled)
    await host.store.audit(who.username, "user.update", username, ip=client_ip(request),
                           detail={"role": body.role, "disabled": body.disabled,
                                   "password_changed": new_hash is not None})
    return {"success": True, "user": user}


@router.delete("/api/v1/users/{username}")
async def delete_user(request: Request, username: Username, who: Me,
                      host: Host) -> dict[str, Any]:
    assert host.store is not None
    await _keep_an_admin(host, username)
    await host.store.delete_user(username)
    await host.store.audit(who.username, "user.delete", username, ip=client_ip(request))
    return {"success": True, "username": username}


@router.post("/api/v1/accounts/{account_id}/grants", status_code=201)
async def grant(request: Request, account_id: AccountId, body: GrantBody, who: Me,
                host: Host) -> dict[str, Any]:
    assert host.store is not None
    new = await host.store.grant(account_id, body.username, who.username)
    if new:
        await host.store.audit(who.username, "grant.add", account_id, ip=client_ip(request),
                               detail={"username": body.username})
    return {"success": True, "account_id": account_id, "username": body.username,
            "created": new}


@router.delete("/api/v1/accounts/{account_id}/grants/{username}")
async def revoke_grant(request: Request, account_id: AccountId, username: Username, who: Me,
                       host: Host) -> dict[str, Any]:
    assert host.store is not None
    await host.store.revoke_grant(account_id, username)
    await host.store.audit(who.username, "grant.remove", account_id, ip=client_ip(request),
                           detail={"username": username})
    return {"success": True, "account_id": account_id, "username": username}


@router.get("/api/v1/audit")
async def audit(host: Host, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
                actor: Annotated[str, Query(max_length=64, pattern=NAME)] = "",
                action: Annotated[str, Query(max_length=64, pattern=NAME)] = "") -> dict[str, Any]:
    assert host.store is not None
    rows = await host.store.audit_page(limit=limit, before_id=before_id, actor=actor,
                                       action=action)
    return {"success": True, "entries": rows,
            "next_before_id": rows[-1]["id"] if len(rows) == limit else None}
