"""Access tokens, opaque credentials, password rules and the route policy, without I/O."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from mandi.core.errors import AuthError, InvalidInput
from services.gateway.auth import passwords, tokens
from services.gateway.auth.policy import ROUTE_ACCESS, access_of
from services.gateway.auth.principal import Access, Principal

SECRET = "s" * 40


def test_access_token_round_trip_carries_user_and_family() -> None:
    token = tokens.issue_access(SECRET, "asha", "fam1", 900)
    assert tokens.read_access(SECRET, token) == tokens.AccessClaims("asha", "fam1")


def test_expired_token_says_so() -> None:
    old = datetime.now(UTC) - timedelta(hours=1)
    token = tokens.issue_access(SECRET, "asha", "fam1", 60, now=old)
    with pytest.raises(AuthError, match="expired"):
        tokens.read_access(SECRET, token)


def test_a_verified_token_is_remembered_until_it_expires_and_only_under_its_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    token = tokens.issue_access(SECRET, "asha", "fam1", 60)
    assert tokens.read_access(SECRET, token).username == "asha"
    decoded = []
    real = tokens._decode
    monkeypatch.setattr(tokens, "_decode", lambda *a: decoded.append(1) or real(*a))
    assert tokens.read_access(SECRET, token).family == "fam1" and not decoded  # remembered
    with pytest.raises(AuthError, match="invalid"):  # another signing key: checked afresh
        tokens.read_access("o" * 40, token)
    assert decoded == [1]
    later = tokens._VERIFIED[(SECRET, token)][1] + 1
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    tokens.read_access(SECRET, token)  # past its expiry it is not taken from memory
    assert decoded == [1, 1]  # (PyJWT, on the real clock, then judges it: see above)


def test_tampered_foreign_and_unsigned_tokens_are_refused() -> None:
    token = tokens.issue_access(SECRET, "asha", "fam1", 900)
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    none_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    for bad in (f"{head}.{forged}.{sig}", f"{none_head}.{forged}.",
                tokens.issue_access("o" * 40, "asha", "fam1", 900), "not-a-jwt", ""):
        with pytest.raises(AuthError) as err:
            tokens.read_access(SECRET, bad)
        assert err.value.message == "invalid access token"


def test_api_keys_are_random_and_only_their_digest_is_kept() -> None:
    (k1, p1), (k2, _) = tokens.new_api_key(), tokens.new_api_key()
    assert k1 != k2 and k1.startswith(p1) and len(k1) >= 40
    assert tokens.digest(k1) != tokens.digest(k2) and k1 not in tokens.digest(k1)
    assert tokens.same(k1, k1) and not tokens.same(k1, k2)


def test_password_rules_and_hash() -> None:
    with pytest.raises(InvalidInput) as err:
        passwords.check_new("short")
    assert err.value.field == "password"
    h = passwords.hash_password("a-long-enough-password")
    assert h.startswith("$argon2id$") and "a-long-enough-password" not in h
    assert passwords.verify(h, "a-long-enough-password")
    assert not passwords.verify(h, "a-long-enough-passworD")
    assert not passwords.verify(None, "a-long-enough-password")
    assert not passwords.verify("garbage", "x")


def test_roles_reach_their_level_and_below_only() -> None:
    def who(role: str) -> Principal:
        return Principal("u", role, frozenset({"A"}), "test")

    assert [who("viewer").can(lv) for lv in Access] == [True, True, False, False]
    assert [who("trader").can(lv) for lv in Access] == [True, True, True, False]
    assert all(who("admin").can(lv) for lv in Access)
    assert not who("root").can(Access.READ)
    assert who("trader").holds("A") and not who("trader").holds("B") and who("admin").holds("B")
    assert who("trader").metadata() == (("mandi-user", "u"), ("mandi-role", "trader"),
                                        ("mandi-accounts", "A"))


def test_unlisted_routes_are_admin_only() -> None:
    assert access_of("GET", "/api/v1/some-new-route") == Access.ADMIN
    assert access_of("get", "/healthz") == Access.PUBLIC
    assert ROUTE_ACCESS[("PUT", "/api/v1/risk")] == Access.ADMIN
    assert ROUTE_ACCESS[("POST", "/api/v1/orders")] == Access.TRADE
