"""Secrets at rest: MANDI_SECRET_KEY (several keys: first encrypts, all decrypt), the generated
key file, the legacy key derived from the Kite API secret, and errors that name the setting but
never a key."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import stat

import pytest
from cryptography.fernet import Fernet

from mandi.core.errors import ConfigError
from mandi.platform.config import load_settings
from mandi.platform.logging import redact
from mandi.platform.secret_box import SETTING, SecretBox, secret_box
from services.execution.accounts import CredentialBox, Credentials

OLD, NEW = "o" * 24 + "old-key-material", "n" * 24 + "new-key-material"


def test_secret_box_when_first_key_changes_old_data_opens_and_rotates_once() -> None:
    old = SecretBox([OLD])
    sealed = old.seal(b"tok-123")
    both = SecretBox([NEW, OLD])
    assert both.open(sealed) == b"tok-123"
    rotated = both.rotate(sealed)
    assert rotated is not None and both.rotate(rotated) is None  # idempotent
    assert SecretBox([NEW]).open(rotated) == b"tok-123"  # the old key can go now
    assert SecretBox([NEW]).open(both.seal(b"x")) == b"x"  # new data: first key


def test_secret_box_when_no_key_opens_raises_config_error_naming_setting_not_key() -> None:
    sealed = SecretBox([OLD]).seal(b"tok-123")
    with pytest.raises(ConfigError) as err:
        SecretBox([NEW]).open(sealed, "stored broker credentials")
    assert err.value.field == SETTING and SETTING in err.value.message
    assert "stored broker credentials" in err.value.message
    assert OLD not in str(err.value) and NEW not in str(err.value)
    with pytest.raises(ConfigError):
        SecretBox([NEW]).rotate(sealed)


def test_credential_box_when_wrong_key_names_setting() -> None:
    blob = CredentialBox(SecretBox([OLD])).seal(Credentials(api_key="k", access_token="t" * 12))
    with pytest.raises(ConfigError, match=SETTING) as err:
        CredentialBox(SecretBox([NEW])).open(blob)
    assert OLD not in repr(err.value) and NEW not in repr(err.value)


def test_credential_box_opens_each_sealed_blob_once_and_a_resealed_one_afresh() -> None:
    box = CredentialBox(SecretBox([OLD]))
    opened = []
    real_open = box.box.open
    box.box.open = lambda blob, what="": opened.append(blob) or real_open(blob, what)
    blob = box.seal(Credentials(api_key="k", access_token="a" * 12))
    first = box.open(blob)
    assert box.open(memoryview(blob)) is first and len(opened) == 1  # as asyncpg hands it
    renewed = box.seal(Credentials(api_key="k", access_token="b" * 12))  # a new daily token
    assert box.open(renewed).access_token == "b" * 12 and len(opened) == 2
    box.OPENED_MAX = 2
    box.open(box.seal(Credentials(api_key="k2")))  # full: the cache starts over, bounded
    assert len(box._opened) == 1


def test_legacy_key_derived_from_kite_secret_still_opens_data_sealed_before_upgrade(
        caplog: pytest.LogCaptureFixture) -> None:
    digest = hashlib.sha256(b"mandi-execution-credentials:" + b"kite-secret-9").digest()
    legacy = Fernet(base64.urlsafe_b64encode(digest)).encrypt(b'{"access_token": "tok-9"}')
    settings = load_settings({"MANDI_SECRET_KEY": NEW, "MANDI_KITE_API_SECRET": "kite-secret-9"})
    box = secret_box(settings)
    with caplog.at_level(logging.WARNING, logger="mandi.platform.secret_box"):
        assert box.open(legacy) == b'{"access_token": "tok-9"}'
        assert box.open(legacy) == b'{"access_token": "tok-9"}'
    said = [r.getMessage() for r in caplog.records if r.name == "mandi.platform.secret_box"]
    assert len(said) == 1 and "rotate-secrets" in said[0]  # once, with what to do
    assert "kite-secret-9" not in said[0]
    rotated = box.rotate(legacy)
    assert rotated is not None and SecretBox([NEW]).open(rotated) == b'{"access_token": "tok-9"}'
    # without that Kite secret configured, the legacy data does not open
    other = secret_box(load_settings({"MANDI_SECRET_KEY": NEW, "MANDI_KITE_API_SECRET": "x"}))
    with pytest.raises(ConfigError):
        other.open(legacy)


def test_secret_key_setting_several_keys_parsed_short_ones_refused_unechoed() -> None:
    s = load_settings({"MANDI_SECRET_KEY": f" {NEW} , {OLD} "})
    assert s.secret_keys() == [NEW, OLD]
    assert NEW not in repr(s) and OLD not in repr(s)
    assert {NEW, OLD} <= set(s.secret_values())  # each key redacted on its own
    with pytest.raises(ConfigError) as err:
        load_settings({"MANDI_SECRET_KEY": f"{NEW},short-key-1"})
    assert err.value.field == SETTING and "short-key-1" not in str(err.value)
    assert NEW not in str(err.value)


def test_secret_box_when_unset_generates_key_file_once_owner_only(tmp_path) -> None:
    path = tmp_path / "m" / "secret-key"
    settings = load_settings({"MANDI_SECRET_KEY_FILE": str(path)})
    sealed = secret_box(settings).seal(b"abc")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret_box(load_settings({"MANDI_SECRET_KEY_FILE": str(path)})).open(sealed) == b"abc"
    key = path.read_text().strip()
    assert SecretBox([key]).open(sealed) == b"abc"  # the file's text is the key


def test_keys_never_in_repr_or_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    box = SecretBox([NEW, OLD])
    assert NEW not in repr(box) and OLD not in repr(box)
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("key is %s and %s", NEW, OLD)
    line = redact(caplog.records[-1].getMessage())
    assert NEW not in line and OLD not in line
