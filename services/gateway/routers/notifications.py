"""Notification REST: the user's channel settings (secrets masked) and the notification list
with read/unread, served from the gateway's own tables by the notifier it hosts
(services/notifier). They are the caller's own: `user` defaults to the signed-in username, and
only an admin may name another user (anyone else gets 404, as for a user with nothing)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from mandi.core.errors import NotFound
from services.gateway.auth.enforce import Me
from services.gateway.schemas.notifications import (
    NotificationPage,
    ReadOut,
    SettingsBody,
    SettingsOut,
)
from services.notifier import settings as st
from services.notifier.store import NotifyStore

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])
User = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]


def _whose(who: Me, user: str | None) -> str:
    if user is None or user == who.username:
        return who.username
    if not who.is_admin:
        raise NotFound(f"no notifications of user {user!r}", field="user")
    return user


async def _store(request: Request) -> NotifyStore:
    return await request.app.state.notifier.get_store()


@router.get("/settings", response_model=SettingsOut)
async def get_settings(request: Request, who: Me, user: User = None) -> dict:
    user = _whose(who, user)
    current = await (await _store(request)).settings(user)
    return {"user": user, **st.masked(current)}


@router.put("/settings", response_model=SettingsOut)
async def put_settings(request: Request, body: SettingsBody, who: Me, user: User = None) -> dict:
    user = _whose(who, user)
    new = await (await _store(request)).update_settings(
        user, body.model_dump(exclude_none=True))
    return {"user": user, **st.masked(new)}


@router.get("", response_model=NotificationPage)
async def list_notifications(
    request: Request, who: Me, user: User = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    unread: bool = False,
) -> dict:
    items, total, unread_count = await (await _store(request)).list(
        _whose(who, user), page=page, page_size=page_size, unread_only=unread)
    return {"items": items, "page": page, "page_size": page_size, "total": total,
            "unread": unread_count}


@router.post("/read-all", response_model=ReadOut)
async def mark_all_read(request: Request, who: Me, user: User = None) -> dict:
    return {"marked": await (await _store(request)).mark_all_read(_whose(who, user))}


@router.post("/{notification_id}/read", response_model=ReadOut)
async def mark_read(request: Request,
                    notification_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                    who: Me, user: User = None) -> dict:
    await (await _store(request)).mark_read(_whose(who, user), notification_id)
    return {"marked": 1}
