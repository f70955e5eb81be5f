"""The gateway's signed Kite-login `state`: round trip, and every way a state is refused (400
naming `state`)."""

from __future__ import annotations

import pytest

from mandi.core.errors import InvalidInput
from mandi.kite.login_state import STATE_TTL_S, sign_state, verify_state

SECRET = "gateway-signing-secret"


def test_round_trip_keeps_account_and_user() -> None:
    state = sign_state(SECRET, "ZS0001", "trader.a@x", now=1000)
    assert verify_state(SECRET, state, now=1000 + STATE_TTL_S) == ("ZS0001", "trader.a@x")


@pytest.mark.parametrize("mangle", [
    lambda s: "",                                     # missing
    lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),  # signature changed
    lambda s: "QUNDX0I" + s[s.index("."):],           # another account, same signature
    lambda s: s.replace(".", "", 1),                  # malformed
    lambda s: s[:-1] + "é",                           # non-ASCII (compare_digest: TypeError)
])
def test_forged_or_malformed_state_is_refused(mangle) -> None:
    state = sign_state(SECRET, "ZS0001", "trader_a", now=1000)
    with pytest.raises(InvalidInput) as err:
        verify_state(SECRET, mangle(state), now=1000)
    assert err.value.field == "state"


def test_expired_state_and_another_gateways_state_are_refused() -> None:
    state = sign_state(SECRET, "ZS0001", "trader_a", now=1000)
    with pytest.raises(InvalidInput, match="expired") as err:
        verify_state(SECRET, state, now=1001 + STATE_TTL_S)
    assert err.value.field == "state"
    with pytest.raises(InvalidInput, match="not one this gateway issued"):
        verify_state("another-secret", state, now=1000)
