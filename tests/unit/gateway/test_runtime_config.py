"""What GET /api/v1/config may show and what PUT may change (services/gateway/runtime_config.py)."""

from __future__ import annotations

import json

import pytest

from mandi.core.errors import InvalidInput
from mandi.platform.config import load_settings
from services.gateway.runtime_config import REDACTED, effective, parse_change, redacted
from services.gateway.symbol_cache import Symbol, search

SECRETS = {"MANDI_KITE_API_SECRET": "kite-secret-value-1234",
           "MANDI_KITE_ACCESS_TOKEN": "kite-access-token-5678",
           "MANDI_JWT_SECRET": "j" * 40, "MANDI_SERVICE_TOKEN_KEY": "s" * 40,
           "MANDI_ADMIN_PASSWORD": "admin-password-9999",
           "MANDI_PG_DSN": "postgresql://mandi:pg-password-4321@db:5432/mandi",
           "MANDI_REDIS_URL": "redis://:redis-password-8765@cache:6379/0"}


def test_redacted_when_secrets_set_hides_each_and_url_passwords() -> None:
    out = redacted(load_settings(SECRETS))
    text = json.dumps(out)
    for value in ("kite-secret-value-1234", "kite-access-token-5678", "j" * 40, "s" * 40,
                  "admin-password-9999", "pg-password-4321", "redis-password-8765"):
        assert value not in text
    assert out["kite_api_secret"] == REDACTED and out["jwt_secret"] == REDACTED
    assert out["pg_dsn"] == f"postgresql://mandi:{REDACTED}@db:5432/mandi"
    assert out["gateway_rate_user"] == "50/1,2000/60" and out["clock"] == "wall"


def test_redacted_when_secret_unset_shows_empty() -> None:
    assert redacted(load_settings({}))["kite_access_token"] == ""


@pytest.mark.parametrize("key,value,words", [
    ("nope", "1", "unknown setting"), ("pg_dsn", "postgresql://x", "needs a restart"),
    ("jwt_secret", "x" * 40, "needs a restart"), ("log_level", "LOUD", "log_level"),
    ("gateway_rate_ip", "10", "gateway_rate_ip"), ("log_level", True, "as text")])
def test_parse_change_when_refused_names_the_key(key: str, value: object, words: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_change(key, value)
    assert exc.value.field == key and words in exc.value.message


def test_effective_applies_good_overrides_and_skips_bad_ones() -> None:
    base = load_settings({})
    got = effective(base, {"log_level": {"value": "debug"}, "pg_dsn": {"value": "x"},
                           "gateway_rate_ip": {"value": "off"}})
    assert got.log_level == "DEBUG" and got.gateway_rate_ip == () and got.pg_dsn == base.pg_dsn


def test_symbol_search_when_prefix_and_substring_prefix_first() -> None:
    items = [Symbol("NSE", s, n, "EQ", i, 1, 0.05, "") for i, (s, n) in enumerate(
        [("BAJINFRA", "BAJ INFRA"), ("INFY", "INFOSYS"), ("INFRATEL", "BHARTI"),
         ("XYZ", "INFO EDGE")])]
    assert [s.tradingsymbol for s in search(items, "inf", 10)] == [
        "INFY", "INFRATEL", "BAJINFRA", "XYZ"]
    assert len(search(items, "", 2)) == 2
