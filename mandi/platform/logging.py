"""Logging set-up shared by every service: one line per record, tagged with the service name,
with secrets scrubbed before anything reaches a handler.

Redaction lives on the handler (not a logger) so records from every library — kiteconnect,
urllib3, asyncpg, uvicorn — pass through it; it rewrites message and exception text, because a
token in a traceback is as leaked as one in a message. Scrubbed: the configured secrets, values
learnt at run time (register_secret: a Kite access token from a login, an account's decrypted
credentials), and whatever looks like a secret (_PATTERNS: name=value in every quoting, bearer
and Kite authorization headers, DSN passwords, JWTs, the gateway's API keys, bot and webhook
URLs).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

REDACTED = "[REDACTED]"

# query strings / form bodies / JSON (escaped quotes too) / env assignments / headers:
# access_token=..., "access_token": "...", {\"password\": \"...\"}, MANDI_KITE_ACCESS_TOKEN=...,
# X-Kite-Access-Token: ..., X-API-Key: ...; a name may carry a prefix (MANDI_ADMIN_PASSWORD).
_SECRET_NAMES = (r"access[_-]token|request[_-]token|refresh[_-]token|public[_-]token|enctoken"
                 r"|api[_-]secret|jwt[_-]secret|secret[_-]key|password|passwd|checksum"
                 r"|x-api-key|api[_-]key[_-]hash")
_KEY_VALUE = re.compile(
    rf"(?P<key>(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_-])*?(?:{_SECRET_NAMES})(?![A-Za-z0-9])"
    r"\\?[\"']?\s*[=:]\s*\\?[\"']?)(?P<value>[^\s&\"',;}\\]+)",
    re.IGNORECASE,
)
# Kite's Authorization header: "token api_key:access_token"; keep the (public) api key.
_KITE_AUTH = re.compile(r"(?P<key>\btoken\s+[^\s:]+:)(?P<value>[^\s\"',;}]+)", re.IGNORECASE)
_BEARER = re.compile(r"(?P<key>\bBearer\s+)(?P<value>[^\s\"',;}]+)", re.IGNORECASE)
# the password of a DSN or URL: postgresql://user:pw@host, redis://:pw@host
_URL_PASSWORD = re.compile(r"(?P<key>\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)(?P<value>[^\s@/]+)(?=@)",
                           re.IGNORECASE)
# anything JWT-shaped (header.payload.signature, base64url JSON)
_JWT = re.compile(r"(?P<key>)(?P<value>\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)")
# Telegram Bot API paths (/bot<id>:<secret>/...) and Discord webhook URLs (/webhooks/<id>/<token>)
_TELEGRAM = re.compile(r"(?P<key>/bot\d+:)(?P<value>[\w-]+)")
_DISCORD = re.compile(r"(?P<key>/webhooks/\d+/)(?P<value>[\w.-]+)")
# Signed service principals (mandi/platform/service_auth.py): v1.<claims>.<HMAC-SHA256>
_PRINCIPAL = re.compile(r"(?P<key>\bv1\.)(?P<value>[\w-]{16,}\.[\w-]{43})(?![\w-])")
# the gateway's API keys (mk_ + 43 url-safe characters), e.g. in a WebSocket's ?token= that
# uvicorn logs with the path
_API_KEY = re.compile(r"(?P<key>)(?P<value>(?<![A-Za-z0-9_-])mk_[A-Za-z0-9_-]{20,})")
_PATTERNS = (_KEY_VALUE, _KITE_AUTH, _BEARER, _URL_PASSWORD, _JWT, _TELEGRAM, _DISCORD,
             _PRINCIPAL, _API_KEY)

# Secrets learnt while running (a Kite access token from a login, an account's decrypted
# credentials): every RedactingFilter scrubs them too (register_secret).
_LEARNT: set[str] = set()


def register_secret(*values: str | None) -> None:
    """Scrub these literal values from every log line from now on (short ones are ignored)."""
    _LEARNT.update(v for v in values if v and len(v) >= 8)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace known secret values and token-shaped substrings with REDACTED."""
    for secret in (*secrets, *_LEARNT):
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

    `secrets` are literal values to scrub (Settings.secret_values()); so are the values later
    passed to register_secret, and token-shaped text (_PATTERNS) always.
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
