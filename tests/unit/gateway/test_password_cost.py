"""The argon2id cost of password hashes: argon2-cffi's defaults unless the environment lowers it
(tests do, in tests/conftest.py), and a hash made at one cost verifies under another."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from mandi.core.errors import ConfigError
from mandi.platform.config import load_settings, password_hash_cost
from services.gateway.auth import passwords


def test_unset_is_argon2_cffi_default_cost() -> None:
    default = PasswordHasher()
    assert password_hash_cost({}) == (default.time_cost, default.memory_cost) == (3, 65536)
    s = load_settings({})
    assert (s.password_hash_time_cost, s.password_hash_memory_kib) == (3, 65536)


def test_environment_sets_the_cost_and_bad_values_name_the_variable() -> None:
    env = {"MANDI_PASSWORD_HASH_TIME_COST": "2", "MANDI_PASSWORD_HASH_MEMORY_KIB": "1024"}
    assert password_hash_cost(env) == (2, 1024)
    s = load_settings(env)
    assert (s.password_hash_time_cost, s.password_hash_memory_kib) == (2, 1024)
    for name, bad in (("MANDI_PASSWORD_HASH_TIME_COST", "0"),
                      ("MANDI_PASSWORD_HASH_MEMORY_KIB", "16"),
                      ("MANDI_PASSWORD_HASH_MEMORY_KIB", "lots")):
        with pytest.raises(ConfigError) as err:
            password_hash_cost({name: bad})
        assert err.value.field == name
        with pytest.raises(ConfigError) as err:
            load_settings({name: bad})
        assert err.value.field == name


def test_hashes_carry_the_process_cost_and_any_cost_verifies() -> None:
    time_cost, memory_kib = password_hash_cost()
    h = passwords.hash_password("a-long-enough-password")
    assert f"$argon2id$v=19$m={memory_kib},t={time_cost},p=4$" in h
    strong = PasswordHasher().hash("a-long-enough-password")  # a production-cost hash
    assert "$m=65536,t=3,p=4$" in strong
    assert passwords.verify(strong, "a-long-enough-password")
    assert not passwords.verify(strong, "a-long-enough-passworD")
