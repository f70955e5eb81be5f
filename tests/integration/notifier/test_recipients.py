"""Who is told: services publish to the placeholder user `default`; the notifier stores and
sends the event to every enabled user granted its account (the gateway's own grants), to the
admins when no one holds it (a fetch job), and to a named user alone when one is named. Each
recipient's copy is its own notification, read through REST as that user."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.notifier.test_notifications import (
    all_acked,
    publish,
    put_settings,
    stored,
    until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
PASSWORD = "a-long-enough-password"


async def _user(stack: Any, name: str, role: str = "trader") -> None:
    r = await stack.http.post("/api/v1/users", json={"username": name, "password": PASSWORD,
                                                     "role": role})
    assert r.status_code == 201, r.text


async def _grant(stack: Any, account: str, name: str) -> None:
    r = await stack.http.post(f"/api/v1/accounts/{account}/grants", json={"username": name})
    assert r.status_code == 201, r.text


def _fill(account: str) -> dict[str, Any]:
    return {"account_id": account, "order_id": f"o-{uuid.uuid4().hex[:8]}", "side": "BUY",
            "quantity": 1, "symbol": "SBIN", "average_price_paise": 81235}


async def test_an_accounts_event_reaches_every_holder_and_no_one_else(nstack: Any) -> None:
    acc, tag = f"R{uuid.uuid4().hex[:8].upper()}", uuid.uuid4().hex[:6]
    holders, outsider = [f"hold1_{tag}", f"hold2_{tag}"], f"out_{tag}"
    for name in (*holders, outsider):
        await _user(nstack, name)
    for name in holders:
        await _grant(nstack, acc, name)
        await put_settings(nstack, name, {"channels": {"webhook": {
            "enabled": True, "url": f"{nstack.fake.url}/hook/{name}"}}})
    fill = _fill(acc)
    publish(nstack, "order_filled", "default", fill)
    for name in holders:
        items = await until(f"{name}'s notification", lambda n=name: _with(nstack, n, fill))
        assert items[0]["kind"] == "order_filled"
        await until(f"{name}'s webhook", lambda n=name: nstack.fake.texts(f"webhook:{n}"))
        assert fill["order_id"] in nstack.fake.texts(f"webhook:{name}")[0]
    await until("acked", lambda: all_acked(nstack))
    assert await _with(nstack, outsider, fill) == []
    assert await _with(nstack, "default", fill) == []
    # redelivering the same entry stores nothing twice: one notification per holder
    assert [len(await _with(nstack, n, fill)) for n in holders] == [1, 1]


async def test_an_event_no_one_holds_goes_to_the_admins_a_named_user_to_that_user(
        nstack: Any) -> None:
    job = {"job_id": str(uuid.uuid4()), "items": 3, "failed": 0, "account_id": "default"}
    publish(nstack, "fetch_finished", "default", job)
    got = await until("the admin's", lambda: _with(nstack, "admin", job, key="job_id"))
    assert got[0]["kind"] == "fetch_finished"
    named = _fill(f"R{uuid.uuid4().hex[:8].upper()}")
    publish(nstack, "order_filled", "someone_named", named)
    await until("the named user's", lambda: _with(nstack, "someone_named", named))
    await until("acked", lambda: all_acked(nstack))
    assert await _with(nstack, "admin", named) == []


async def _with(stack: Any, user: str, data: dict[str, Any], key: str = "order_id"
                ) -> list[dict[str, Any]]:
    return [i for i in await stored(stack, user) if i["data"].get(key) == data[key]]
