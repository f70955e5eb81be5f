"""Message texts (rupees with Indian grouping) and the settings model: merge, masking, errors
that name the field."""

from __future__ import annotations

import pytest

from mandi.core.errors import InvalidInput
from mandi.platform.notify_events import KINDS, decode, encode
from services.notifier import settings as st
from services.notifier.messages import render, rupees


@pytest.mark.parametrize(("paise", "text"), [
    (0, "₹0.00"), (5, "₹0.05"), (150235, "₹1,502.35"), (99999, "₹999.99"),
    (10000000, "₹1,00,000.00"), (1234567890, "₹1,23,45,678.90"), (-150000, "-₹1,500.00"),
    ("x", "₹?"),
])
def test_rupees_groups_the_indian_way(paise, text) -> None:
    assert rupees(paise) == text


def test_every_kind_renders_even_with_no_data() -> None:
    for kind in KINDS:
        line = render(kind, {})
        assert line and "\n" not in line and "None" not in line


def test_encode_rejects_an_unknown_kind_and_round_trips() -> None:
    with pytest.raises(InvalidInput) as exc:
        encode("order_exploded", {})
    assert exc.value.field == "kind"
    fields = encode("order_filled", {"average_price_paise": 150235}, user="u1")
    event = decode({k.encode(): v.encode() for k, v in fields.items()})
    assert event["kind"] == "order_filled" and event["user"] == "u1"
    assert event["data"] == {"average_price_paise": 150235} and event["id"] == fields["id"]


def test_merge_keeps_masked_secrets_and_masks_them_on_the_way_out() -> None:
    cur = st.merge(st.full(None, None), {"channels": {
        "discord": {"enabled": True, "webhook_url": "https://discord.test/api/webhooks/1/tok"},
        "telegram": {"enabled": True, "bot_token": "123456:ABCDEFGHIJ", "chat_id": "42"}}})
    shown = st.masked(cur)
    assert shown["channels"]["discord"]["webhook_url"] == "https://discord.test/****"
    assert shown["channels"]["telegram"]["bot_token"] == "****GHIJ"
    again = st.merge(cur, {"channels": shown["channels"]})
    assert again["channels"]["telegram"]["bot_token"] == "123456:ABCDEFGHIJ"
    assert again["channels"]["discord"]["webhook_url"].endswith("/1/tok")
    off = st.merge(cur, {"events": {"bot_error": False, "order_filled": {"email": False}}})
    assert set(off["events"]["bot_error"].values()) == {False}
    assert off["events"]["order_filled"]["email"] is False
    assert off["events"]["order_filled"]["telegram"] is True


@pytest.mark.parametrize(("body", "field"), [
    ([], "body"),
    ({"channels": {"email": {"to": ["not-an-address"]}}}, "channels.email.to"),
    ({"channels": {"email": {"port": True}}}, "channels.email.port"),
    ({"channels": {"telegram": {"enabled": "yes"}}}, "channels.telegram.enabled"),
    ({"channels": {"discord": {"colour": 1}}}, "channels.discord.colour"),
    ({"channels": {"email": {"enabled": True, "host": "h", "from_addr": "a@b"}}},
     "channels.email.to"),
])
def test_merge_names_the_bad_field(body, field) -> None:
    with pytest.raises(InvalidInput) as exc:
        st.merge(st.full(None, None), body)
    assert exc.value.field == field
