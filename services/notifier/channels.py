"""Channel senders: Telegram Bot API, a generic JSON webhook, a Discord webhook, e-mail (SMTP).

Each sender turns one line of text into one request and classifies failure for the retry loop
(worker.py): connection errors, timeouts, 5xx and 429 are worth retrying (429 with the wait the
server asks for: Telegram's `parameters.retry_after`, Discord's `retry_after`, or a Retry-After
header); other 4xx and SMTP 5xx are not — the config is wrong and the user must fix it.

Each sender also names its rate-limit windows and the destination they count against (Telegram
allows about one message a second per chat and thirty a second per bot; a Discord webhook five
per two seconds). The destination is hashed: bot tokens and webhook URLs are secrets and must
not appear in Redis keys, logs or error texts — errors name the channel and status only. The
HTTP client is aiohttp, which (unlike httpx at INFO) does not log request URLs.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
from email.message import EmailMessage
from typing import Any

import aiohttp

from mandi.platform.ratelimit import Windows

TIMEOUT_S = 10.0


class SendError(Exception):
    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


def digest(*parts: Any) -> str:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()[:16]


def _retry_after(status_body: Any, headers: Any) -> float | None:
    if isinstance(status_body, dict):
        for value in ((status_body.get("parameters") or {}).get("retry_after"),
                      status_body.get("retry_after")):
            if isinstance(value, int | float) and value >= 0:
                return float(value)
    header = headers.get("Retry-After", "")
    try:
        return max(float(header), 0.0) if header else None
    except ValueError:
        return None


async def post_json(client: aiohttp.ClientSession, channel: str, url: str,
                    payload: dict[str, Any]) -> None:
    try:
        async with client.post(url, json=payload,
                               timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as resp:
            status = resp.status
            if status == 429:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
                raise SendError(f"{channel}: HTTP 429 (rate limited)", retryable=True,
                                retry_after=_retry_after(body, resp.headers))
            await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:  # refused, reset, timeout …
        raise SendError(f"{channel}: {type(exc).__name__}", retryable=True) from None
    if status >= 300:
        raise SendError(f"{channel}: HTTP {status}", retryable=status >= 500)


class Telegram:
    name = "telegram"

    def __init__(self, client: aiohttp.ClientSession, api_base: str) -> None:
        self.client = client
        self.api_base = api_base.rstrip("/")

    def limits(self, conf: dict[str, Any]) -> dict[str, Windows]:
        return {digest("chat", conf["bot_token"], conf["chat_id"]): ((1, 1.0), (20, 60.0)),
                digest("bot", conf["bot_token"]): ((30, 1.0),)}

    async def send(self, conf: dict[str, Any], text: str, event: dict[str, Any]) -> None:
        await post_json(self.client, self.name,
                        f"{self.api_base}/bot{conf['bot_token']}/sendMessage",
                        {"chat_id": conf["chat_id"], "text": text[:4096],
                         "disable_web_page_preview": True})


class Webhook:
    """POSTs `{"kind", "text", "user", "ts", "id", "data"}` to the configured URL."""

    name = "webhook"

    def __init__(self, client: aiohttp.ClientSession) -> None:
        self.client = client

    def limits(self, conf: dict[str, Any]) -> dict[str, Windows]:
        return {digest("webhook", conf["url"]): ((10, 1.0),)}

    async def send(self, conf: dict[str, Any], text: str, event: dict[str, Any]) -> None:
        await post_json(self.client, self.name, conf["url"],
                        {"id": event["id"], "kind": event["kind"], "user": event["user"],
                         "ts": event["ts"], "text": text, "data": event["data"]})


class Discord:
    name = "discord"

    def __init__(self, client: aiohttp.ClientSession) -> None:
        self.client = client

    def limits(self, conf: dict[str, Any]) -> dict[str, Windows]:
        return {digest("discord", conf["webhook_url"]): ((5, 2.0),)}

    async def send(self, conf: dict[str, Any], text: str, event: dict[str, Any]) -> None:
        await post_json(self.client, self.name, conf["webhook_url"], {"content": text[:2000]})


class Email:
    """One plain-text mail per notification through the user's SMTP server (smtplib in a
    thread: a slow server blocks a worker thread, never the event loop)."""

    name = "email"

    def limits(self, conf: dict[str, Any]) -> dict[str, Windows]:
        return {digest("email", conf["host"], conf["port"], conf["username"]): ((1, 1.0),)}

    async def send(self, conf: dict[str, Any], text: str, event: dict[str, Any]) -> None:
        await asyncio.to_thread(self._send, conf, text)

    @staticmethod
    def _send(conf: dict[str, Any], text: str) -> None:
        msg = EmailMessage()
        msg["Subject"] = "Mandi: " + text[:100]
        msg["From"] = conf["from_addr"]
        msg["To"] = ", ".join(conf["to"])
        msg.set_content(text)
        try:
            with smtplib.SMTP(conf["host"], int(conf["port"]), timeout=TIMEOUT_S) as smtp:
                if conf.get("starttls"):
                    smtp.starttls()
                if conf.get("username"):
                    smtp.login(conf["username"], conf.get("password", ""))
                smtp.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(f"email: SMTP authentication failed ({exc.smtp_code})",
                            retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            raise SendError(f"email: SMTP {exc.smtp_code}",
                            retryable=exc.smtp_code < 500 or exc.smtp_code == 421) from None
        except smtplib.SMTPRecipientsRefused:
            raise SendError("email: recipients refused", retryable=False) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"email: {type(exc).__name__}", retryable=True) from None
