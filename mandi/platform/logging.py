"""Logging set-up shared by every service: one line per record, tagged with the service name,
with secrets scrubbed before anything reaches a handler.

Redaction lives on the handler (not a logger) so records from every library — kiteconnect,
urllib3, asyncpg — pass through it; it rewrites message and exception text, because a token in
a traceback is as leaked as one in a message.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

REDACTED = "[REDACTED]"

# query strings / form bodies / JSON: access_token=..., "access_token": "..."
_KEY_VALUE = re.compile(
    r"(?P<key>\b(?:access_token|request_token|refresh_token|api_secret|enctoken|password)\b"
    r"[\"']?\s*[=:]\s*[\"']?)(?P<value>[^\s&\"',;}]+)",
    re.IGNORECASE,
)
# Kite's Authorization header: "token api_key:access_token"; keep the (public) api key.
_KITE_AUTH = re.compile(r"(?P<key>\btoken\s+[^\s:]+:)(?P<value>[^\s\"',;}]+)", re.IGNORECASE)
_BEARER = re.compile(r"(?P<key>\bBearer\s+)(?P<value>[^\s\"',;}]+)", re.IGNORECASE)
# Telegram Bot API paths (/bot<id>:<secret>/...) and Discord webhook URLs (/webhooks/<id>/<token>)
_TELEGRAM = re.compile(r"(?P<key>/bot\d+:)(?P<value>[\w-]+)")
_DISCORD = re.compile(r"(?P<key>/webhooks/\d+/)(?P<value>[\w.-]+)")
# Signed service principals (mandi/platform/service_auth.py): v1.<claims>.<HMAC-SHA256>
_PRINCIPAL = re.compile(r"(?P<key>\bv1\.)(?P<value>[\w-]{16,}\.[\w-]{43})(?![\w-])")
_PATTERNS = (_KEY_VALUE, _KITE_AUTH, _BEARER, _TELEGRAM, _DISCORD, _PRINCIPAL)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace known secret values and token-shaped substrings with REDACTED."""
    for secret in secrets:
        if secret and len(secret) >= 4:  # never "redact" every 'a' in a log line
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group("key") + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message and exception text with secrets removed."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)
        self._exc_formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exc_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


class OneLineFormatter(logging.Formatter):
    """`<utc iso time> <LEVEL> <service> <logger>: <message>`; newlines escaped so one record is
    one line for log shippers."""

    def __init__(self, service: str) -> None:
        super().__init__("%(asctime)s %(levelname)s %(service)s %(name)s: %(message)s")
        self.service = service

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        record.service = self.service
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")


def configure_logging(service: str, level: str = "INFO", *, secrets: Iterable[str] = ()) -> None:
    """Route all logging to stderr in Mandi's format, replacing earlier handlers on the root.

    `secrets` are literal values to scrub (the Kite api secret); token patterns are always
    scrubbed.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(service))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Chatty libraries at INFO drown the service's own lines.
    for noisy in ("urllib3", "asyncio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
