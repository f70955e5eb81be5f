"""Bodies and answers of the notification API. The settings body's inner fields are checked by
services/notifier/settings.py, which names the offending field (`channels.email.port`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool


class SettingsBody(BaseModel):
    """Channels and per-event toggles to change; what is left out keeps its stored value."""

    model_config = ConfigDict(extra="forbid")

    channels: dict[str, dict[str, Any]] | None = None
    events: dict[str, StrictBool | dict[str, StrictBool]] | None = None


class SettingsOut(BaseModel):
    user: str
    channels: dict[str, dict[str, Any]]
    events: dict[str, dict[str, bool]]


class NotificationOut(BaseModel):
    id: int
    kind: str
    text: str
    data: dict[str, Any]
    created_at: datetime
    read: bool
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    page: int
    page_size: int
    total: int
    unread: int


class ReadOut(BaseModel):
    success: bool = True
    marked: int
