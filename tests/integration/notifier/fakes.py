"""Local servers that speak each notification channel's protocol, recording what they receive:
the Telegram Bot API (`POST /bot<token>/sendMessage`), a generic JSON webhook receiver, a
Discord-style webhook (`{"content": ...}`) and an SMTP server (aiosmtpd). Each HTTP route can be
scripted to fail first (e.g. 500, 500, then 200) or to hang until released."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from mandi.testing.kitesim import free_port


@dataclass
class Call:
    route: str  # "telegram:<token>", "webhook:<name>", "discord:<id>"
    body: dict[str, Any]
    at: float  # time.monotonic() on arrival
    status: int


@dataclass
class Script:
    statuses: list[int] = field(default_factory=list)  # answered first, in order
    retry_after: float | None = None  # put into 429 answers
    hang: asyncio.Event | None = None  # when set, requests wait for it before answering


class FakeHttp:
    """One aiohttp server holding the three HTTP protocols on their own paths."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.scripts: dict[str, Script] = {}
        self.hanging = 0
        self.changed = asyncio.Event()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self._telegram)
        app.router.add_post("/hook/{name}", self._webhook)
        app.router.add_post("/api/webhooks/{id}/{token}", self._discord)
        self._runner = web.AppRunner(app)

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        for script in self.scripts.values():
            if script.hang is not None:
                script.hang.set()
        await self._runner.cleanup()

    async def _answer(self, route: str, body: dict[str, Any], ok: dict[str, Any]) -> web.Response:
        script = self.scripts.get(route)
        status = 200
        if script is not None and script.hang is not None and not script.hang.is_set():
            self.hanging += 1
            self._notify()
            try:
                await script.hang.wait()
            finally:
                self.hanging -= 1
        if script is not None and script.statuses:
            status = script.statuses.pop(0)
        self.calls.append(Call(route, body, time.monotonic(), status))
        self._notify()
        if status == 429:
            after = script.retry_after if script else None
            return web.json_response({"ok": False, "error_code": 429,
                                      "parameters": {"retry_after": after},
                                      "retry_after": after}, status=429)
        if status >= 300:
            return web.json_response({"ok": False, "error_code": status}, status=status)
        return web.json_response(ok)

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def _telegram(self, request: web.Request) -> web.Response:
        body = await request.json()
        return await self._answer(f"telegram:{request.match_info['token']}", body,
                                  {"ok": True, "result": {"message_id": len(self.calls) + 1}})

    async def _webhook(self, request: web.Request) -> web.Response:
        return await self._answer(f"webhook:{request.match_info['name']}",
                                  await request.json(), {"ok": True})

    async def _discord(self, request: web.Request) -> web.Response:
        return await self._answer(f"discord:{request.match_info['id']}", await request.json(),
                                  {})

    def texts(self, route: str) -> list[str]:
        """Texts accepted (2xx) on a route."""
        out = []
        for c in self.calls:
            if c.route == route and c.status < 300:
                out.append(c.body.get("text") or c.body.get("content") or "")
        return out

    def attempts(self, route: str) -> list[Call]:
        return [c for c in self.calls if c.route == route]


class _Mailbox:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mails: list[tuple[list[str], str, str]] = []  # (rcpt, subject, body)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = msg.get_body(("plain",))
        with self.lock:
            self.mails.append((list(envelope.rcpt_tos), str(msg["Subject"]),
                               body.get_content().strip() if body else ""))
        return "250 OK"


class FakeSmtp:
    def __init__(self) -> None:
        self.port = free_port()
        self.box = _Mailbox()
        self._controller = Controller(self.box, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def bodies(self, rcpt: str) -> list[str]:
        with self.box.lock:
            return [body for to, _, body in self.box.mails if rcpt in to]
