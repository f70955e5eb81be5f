"""A user's notification settings: channel configs and the per-event, per-channel on/off matrix.

Shape (what PUT takes and GET returns, secrets masked on GET):

    {"channels": {"telegram": {"enabled", "bot_token", "chat_id"},
                  "webhook":  {"enabled", "url"},
                  "discord":  {"enabled", "webhook_url"},
                  "email":    {"enabled", "host", "port", "username", "password", "from_addr",
                               "to": [...], "starttls"}},
     "events": {"<kind>": {"<channel>": true|false, ...}, ...}}

PUT merges into what is stored: a channel or event left out keeps its value, `events.<kind>`
may be a bare bool (every channel), and a secret sent back as its masked form (or left out)
keeps the stored secret — so a UI can PUT back what it got from GET. Every event is on for every
channel unless turned off; a channel sends only once it is enabled. Bad input raises InvalidInput
naming the field (`channels.telegram.chat_id`).

Secrets — bot tokens, SMTP passwords, webhook URLs (whose paths are their tokens) — are masked
as `****` plus at most the last four characters (URLs keep only scheme and host).
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

from mandi.core.errors import InvalidInput
from mandi.platform.notify_events import KINDS

CHANNELS = ("telegram", "webhook", "discord", "email")
MASK = "****"

# field -> (type, secret, required when enabled)
FIELDS: dict[str, dict[str, tuple[type, bool, bool]]] = {
    "telegram": {"bot_token": (str, True, True), "chat_id": (str, False, True)},
    "webhook": {"url": (str, True, True)},
    "discord": {"webhook_url": (str, True, True)},
    "email": {"host": (str, False, True), "port": (int, False, True),
              "username": (str, False, False), "password": (str, True, False),
              "from_addr": (str, False, True), "to": (list, False, True),
              "starttls": (bool, False, False)},
}
URL_FIELDS = {("webhook", "url"), ("discord", "webhook_url")}
DEFAULTS: dict[str, dict[str, Any]] = {
    "telegram": {"enabled": False, "bot_token": "", "chat_id": ""},
    "webhook": {"enabled": False, "url": ""},
    "discord": {"enabled": False, "webhook_url": ""},
    "email": {"enabled": False, "host": "", "port": 25, "username": "", "password": "",
              "from_addr": "", "to": [], "starttls": False},
}


def mask(value: str, *, url: bool = False) -> str:
    if not value:
        return ""
    if url:
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.hostname or '?'}/{MASK}"
    return MASK + (value[-4:] if len(value) >= 12 else "")


def is_masked(value: Any) -> bool:
    return isinstance(value, str) and MASK in value


def full(channels: dict[str, Any] | None, events: dict[str, Any] | None) -> dict[str, Any]:
    """Stored (possibly partial) settings completed with the defaults."""
    out_ch = {}
    for ch in CHANNELS:
        out_ch[ch] = {**copy.deepcopy(DEFAULTS[ch]), **((channels or {}).get(ch) or {})}
    out_ev = {k: {ch: bool(((events or {}).get(k) or {}).get(ch, True)) for ch in CHANNELS}
              for k in KINDS}
    return {"channels": out_ch, "events": out_ev}


def masked(settings: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(settings)
    for ch, spec in FIELDS.items():
        for name, (_, secret, _) in spec.items():
            if secret:
                out["channels"][ch][name] = mask(out["channels"][ch][name],
                                                 url=(ch, name) in URL_FIELDS)
    return out


def _check_value(ch: str, name: str, value: Any) -> Any:
    where = f"channels.{ch}.{name}"
    typ = FIELDS[ch][name][0]
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise InvalidInput("expected a port number 1-65535", field=where)
        return value
    if typ is bool:
        if not isinstance(value, bool):
            raise InvalidInput("expected true or false", field=where)
        return value
    if typ is list:
        if not isinstance(value, list) or not all(isinstance(v, str) and "@" in v
                                                  for v in value):
            raise InvalidInput("expected a list of e-mail addresses", field=where)
        return [v.strip() for v in value]
    if not isinstance(value, str):
        raise InvalidInput("expected a string", field=where)
    value = value.strip()
    if (ch, name) in URL_FIELDS and value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("expected an http(s) URL", field=where)
    if name == "from_addr" and value and "@" not in value:
        raise InvalidInput("expected an e-mail address", field=where)
    return value


def merge(current: dict[str, Any], body: Any) -> dict[str, Any]:
    """The full settings after applying a PUT body to `current` (full, unmasked)."""
    if not isinstance(body, dict):
        raise InvalidInput("expected a JSON object", field="body")
    unknown = set(body) - {"channels", "events"}
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(sorted(unknown))}",
                           field=sorted(unknown)[0])
    out = copy.deepcopy(current)
    channels = body.get("channels") or {}
    if not isinstance(channels, dict):
        raise InvalidInput("expected an object of channels", field="channels")
    for ch, conf in channels.items():
        if ch not in CHANNELS:
            raise InvalidInput(f"unknown channel; known: {', '.join(CHANNELS)}",
                               field=f"channels.{ch}")
        if not isinstance(conf, dict):
            raise InvalidInput("expected an object", field=f"channels.{ch}")
        for name, value in conf.items():
            if name == "enabled":
                if not isinstance(value, bool):
                    raise InvalidInput("expected true or false", field=f"channels.{ch}.enabled")
                out["channels"][ch]["enabled"] = value
                continue
            if name not in FIELDS[ch]:
                raise InvalidInput(f"unknown field; known: enabled, {', '.join(FIELDS[ch])}",
                                   field=f"channels.{ch}.{name}")
            if FIELDS[ch][name][1] and is_masked(value):
                continue  # the masked secret sent back: keep the stored one
            out["channels"][ch][name] = _check_value(ch, name, value)
    events = body.get("events") or {}
    if not isinstance(events, dict):
        raise InvalidInput("expected an object of events", field="events")
    for kind, value in events.items():
        if kind not in KINDS:
            raise InvalidInput(f"unknown event; known: {', '.join(KINDS)}",
                               field=f"events.{kind}")
        if isinstance(value, bool):
            out["events"][kind] = dict.fromkeys(CHANNELS, value)
            continue
        if not isinstance(value, dict):
            raise InvalidInput("expected true/false or an object of channel: true/false",
                               field=f"events.{kind}")
        for ch, on in value.items():
            if ch not in CHANNELS or not isinstance(on, bool):
                raise InvalidInput("expected a known channel set to true or false",
                                   field=f"events.{kind}.{ch}")
            out["events"][kind][ch] = on
    for ch, conf in out["channels"].items():
        if conf["enabled"]:
            for name, (_, _, required) in FIELDS[ch].items():
                if required and conf[name] in ("", [], None):
                    raise InvalidInput(f"required when {ch} is enabled",
                                       field=f"channels.{ch}.{name}")
    return out
