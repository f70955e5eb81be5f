"""Signed principals (mandi/platform/service_auth.py): what verifies, what is refused and why,
and the generated key file."""

from __future__ import annotations

import os
import stat
import threading
import time

import pytest

from mandi.core.errors import AuthError
from mandi.platform.config import load_settings
from mandi.platform.service_auth import (
    PRINCIPAL_KEY,
    SYSTEM,
    CallPrincipal,
    key_from_file,
    service_key,
    service_principal,
    sign,
    sign_metadata,
    verify,
    verify_call,
)

KEY = b"k" * 40
METHOD = "/mandi.v1.ExecutionService/ResetEmergencyStop"


def test_a_signed_principal_verifies_for_its_method() -> None:
    who = verify(KEY, sign(KEY, user="asha", role="trader", accounts=["B", "A"], method=METHOD),
                 METHOD)
    assert (who.user, who.role, who.accounts) == ("asha", "trader", frozenset({"A", "B"}))
    assert not who.is_admin and not who.is_system


@pytest.mark.parametrize("tamper, message", [
    (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "bad signature"),
    (lambda t: "v2" + t[2:], "malformed"),
    (lambda t: "v1.x", "malformed"),
    (lambda t: "v1." + "a" * 20_000 + ".b", "too long"),
    (lambda t: t[:-1] + "é", "bad signature"),  # non-ASCII: compare_digest raised TypeError
])
def test_a_tampered_token_is_refused(tamper, message) -> None:
    token = sign(KEY, user="asha", role="admin", accounts=[], method=METHOD)
    with pytest.raises(AuthError) as err:
        verify(KEY, tamper(token), METHOD)
    assert message in err.value.message and token not in str(err.value)


def test_a_role_changed_inside_the_claims_breaks_the_signature() -> None:
    token = sign(KEY, user="asha", role="viewer", accounts=[], method=METHOD)
    forged_claims = sign(b"x" * 40, user="asha", role="admin", accounts=[], method=METHOD)
    mac = token.rpartition(".")[2]
    forged = forged_claims.rpartition(".")[0] + "." + mac
    with pytest.raises(AuthError, match="bad signature"):
        verify(KEY, forged, METHOD)


def test_expiry_and_method_binding() -> None:
    old = sign(KEY, user="asha", role="admin", accounts=[], method=METHOD, now=time.time() - 301)
    with pytest.raises(AuthError, match="expired"):
        verify(KEY, old, METHOD)
    fresh = sign(KEY, user="asha", role="admin", accounts=[], method=METHOD)
    with pytest.raises(AuthError, match="another method"):
        verify(KEY, fresh, "/mandi.v1.ExecutionService/SetRiskLimits")


def test_unsigned_calls_are_refused_unless_allowed_and_plain_claims_always() -> None:
    with pytest.raises(AuthError, match="carries no mandi-principal"):
        verify_call(KEY, [("x-trace", "1")], METHOD)
    for probe in ("/grpc.health.v1.Health/Check",
                  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"):
        assert verify_call(KEY, [], probe) is SYSTEM
    allowed = verify_call(KEY, [("x-trace", "1")], METHOD, allow_unsigned=True)
    assert allowed is SYSTEM and not SYSTEM.is_admin and SYSTEM.may_use("ANY")
    with pytest.raises(AuthError, match="mandi-role metadata is not accepted"):
        verify_call(KEY, [("mandi-role", "admin")], METHOD)
    token = sign(KEY, user="asha", role="admin", accounts=[], method=METHOD)
    with pytest.raises(AuthError, match="more than one"):
        verify_call(KEY, [(PRINCIPAL_KEY, token), (PRINCIPAL_KEY, token)], METHOD)
    with pytest.raises(AuthError, match="no service token key"):
        verify_call(None, [(PRINCIPAL_KEY, token)], METHOD)


def test_sign_metadata_replaces_the_plain_keys() -> None:
    md = sign_metadata(KEY, [("mandi-user", "asha"), ("mandi-role", "trader"),
                             ("mandi-accounts", "A,B"), ("traceparent", "t")], METHOD)
    names = [name for name, _ in md]
    assert names == ["traceparent", PRINCIPAL_KEY]
    who = verify_call(KEY, md, METHOD)
    assert (who.user, who.role, who.accounts) == ("asha", "trader", frozenset({"A", "B"}))
    assert sign_metadata(KEY, [("mandi-role", "admin")], METHOD) == []  # no user, no fallback


def test_a_call_naming_no_user_is_signed_as_the_service_which_is_no_admin() -> None:
    md = sign_metadata(KEY, [("mandi-role", "admin")], METHOD, service_principal("strategy"))
    who = verify_call(KEY, md, METHOD)
    assert (who.user, who.role) == ("svc:strategy", "service")
    assert who.is_service and not who.is_admin and not who.is_user and who.may_use("ANY")
    # a user named in plain metadata wins over the fallback, and is scoped to its grants
    md = sign_metadata(KEY, [("mandi-user", "asha"), ("mandi-accounts", "A")], METHOD,
                       service_principal("gateway"))
    asha = verify_call(KEY, md, METHOD)
    assert asha.is_user and asha.may_use("A") and not asha.may_use("B")
    # an already signed call is left alone: never two principals
    assert sign_metadata(KEY, md, METHOD, service_principal("gateway")) == md
    # a user cannot pass for a service by its role alone
    fake = CallPrincipal(user="mallory", role="service", accounts=frozenset())
    assert fake.is_user and not fake.may_use("B")


def test_the_key_file_is_generated_once_owner_only_and_shared(tmp_path) -> None:
    path = tmp_path / "sub" / "service-token-key"
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(key_from_file(str(path))))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and len(keys[0]) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["service-token-key"]  # no temp left


def test_a_configured_key_wins_and_short_ones_are_refused(tmp_path) -> None:
    settings = load_settings({"MANDI_SERVICE_TOKEN_KEY": "s" * 32,
                              "MANDI_SERVICE_TOKEN_KEY_FILE": str(tmp_path / "unused")})
    assert service_key(settings) == b"s" * 32 and not (tmp_path / "unused").exists()
    assert "s" * 32 not in repr(settings)
    with pytest.raises(Exception) as err:
        load_settings({"MANDI_SERVICE_TOKEN_KEY": "short-key"})
    assert "short-key" not in str(err.value)
