"""Log lines are single-line, tagged with the service, and never carry secrets."""

from __future__ import annotations

import logging

import pytest

from mandi.platform.logging import REDACTED, configure_logging, redact, register_secret
from mandi.platform.service_auth import sign

PRINCIPAL = sign(b"k" * 40, user="asha", role="admin", accounts=["A"],
                 method="/mandi.v1.ExecutionService/ResetEmergencyStop")


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("GET /x?api_key=k&access_token=abc123XYZ&from=1", "abc123XYZ"),
        ('{"access_token": "abc123XYZ", "user": "AB1234"}', "abc123XYZ"),
        ("Authorization: token mandi_sim_key:abc123XYZ", "abc123XYZ"),
        ("headers={'Authorization': 'token kk:abc123XYZ'}", "abc123XYZ"),
        ("request_token=abc123XYZ", "abc123XYZ"),
        ("Authorization: Bearer abc123XYZ", "abc123XYZ"),
        ("POST https://api.telegram.org/bot123456:AAE-abc_123XYZ/sendMessage", "AAE-abc_123XYZ"),
        ("POST https://discord.com/api/webhooks/9876/abc123XYZ-tok", "abc123XYZ-tok"),
        (f"metadata=[('mandi-principal', '{PRINCIPAL}')]", PRINCIPAL.split(".", 1)[1]),
        # the forms the security review (S11) found unredacted
        ("MANDI_KITE_ACCESS_TOKEN=abc123XYZ", "abc123XYZ"),
        ("X-Kite-Access-Token: abc123XYZ", "abc123XYZ"),
        ('{\\"access_token\\": \\"abc123XYZ\\"}', "abc123XYZ"),
        ("dsn postgresql://mandi:abc123XYZ@db:5432/mandi", "abc123XYZ"),
        ("redis://:abc123XYZ@localhost:6379/0", "abc123XYZ"),
        ("checksum=abc123XYZ", "abc123XYZ"),
        ('{"public_token": "abc123XYZ"}', "abc123XYZ"),
        ("MANDI_ADMIN_PASSWORD=abc123XYZ", "abc123XYZ"),
        ("X-API-Key: abc123XYZ", "abc123XYZ"),
        ("claims of eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.abc123XYZ", "abc123XYZ"),
        # uvicorn's access line of a WebSocket carrying an API key in ?token=
        ('"WebSocket /ws/orders?token=mk_AbC123xyz_-AbC123xyz_-AbC" [accepted]',
         "AbC123xyz_-AbC123xyz_-AbC"),
    ],
)
def test_redact_removes_tokens(text: str, leak: str) -> None:
    out = redact(text)
    assert leak not in out and REDACTED in out


def test_redact_keeps_ordinary_text_and_public_api_key() -> None:
    assert redact("fetched 375 candles for INFY") == "fetched 375 candles for INFY"
    assert "mandi_sim_key" in redact("Authorization: token mandi_sim_key:abc")
    assert redact("GET /connect/login?api_key=mandi_sim_key&v=3").endswith("mandi_sim_key&v=3")
    assert redact("postgresql://127.0.0.1:5432/mandi") == "postgresql://127.0.0.1:5432/mandi"


def test_registered_secret_is_scrubbed_from_then_on() -> None:
    value = "learnt-at-runtime-7c1e"
    assert redact(f"got {value}") == f"got {value}"
    register_secret(value, "", None, "short")
    assert redact(f"got {value}") == f"got {REDACTED}"
    assert redact("short") == "short"  # values under 8 characters are not registered


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_configure_logging_formats_one_line_and_redacts_everything(
    capsys: pytest.CaptureFixture[str], restore_root_logging: None
) -> None:
    configure_logging("history", "INFO", secrets=["topsecret99"])
    log = logging.getLogger("some.library")
    log.info("login with secret %s", "topsecret99")
    log.debug("hidden at INFO")
    try:
        raise ValueError("bad response access_token=tok42abc\nsecond line")
    except ValueError:
        log.exception("call failed for %s", "INFY")
    err = capsys.readouterr().err
    lines = err.strip().split("\n")
    assert len(lines) == 2, err  # one record per line, tracebacks included
    assert " INFO history some.library: login with secret [REDACTED]" in lines[0]
    assert lines[0][:4].isdigit() and "+00:00" in lines[0]  # UTC ISO timestamp
    assert "call failed for INFY" in lines[1] and "Traceback" in lines[1]
    assert "topsecret99" not in err and "tok42abc" not in err
    assert "hidden at INFO" not in err
