"""The keys the execution process shares market data and instrument lists by: accounts on the
same Kite app and token share one entry, other tokens get their own, and no key holds the
token itself (they live in long-lived dicts, which a dump or a debugger shows)."""

from __future__ import annotations

import hashlib

from mandi.platform.config import load_settings
from services.execution.accounts import Account, Credentials
from services.execution.wiring import data_key, instruments_key

TOKEN = "tok-3f9a1c77e2b04d5e"


def _kite(account_id: str, token: str, **creds: str) -> Account:
    return Account(account_id, "kite", credentials=Credentials(access_token=token, **creds))


def test_data_key_when_token_set_holds_its_sha256_not_the_token() -> None:
    settings = load_settings({})
    key = data_key(settings, _kite("A1", TOKEN))
    assert key == (settings.kite_root, settings.kite_api_key,
                   hashlib.sha256(TOKEN.encode()).hexdigest())
    assert TOKEN not in repr(key)
    assert TOKEN not in instruments_key(settings, _kite("A1", TOKEN))


def test_data_key_when_same_app_and_token_shared_else_apart() -> None:
    settings = load_settings({})
    same = {data_key(settings, _kite(a, TOKEN)) for a in ("A1", "A2")}
    assert len(same) == 1
    assert data_key(settings, _kite("A3", TOKEN + "x")) not in same
    assert data_key(settings, _kite("A4", TOKEN, api_key="other_app")) not in same
    assert data_key(settings, _kite("A5", TOKEN, root="http://127.0.0.1:1")) not in same
    assert len({instruments_key(settings, _kite("A1", t)) for t in ("", TOKEN, TOKEN + "x")}) == 3
