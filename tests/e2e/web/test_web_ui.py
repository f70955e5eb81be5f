"""A trader's morning in the web UI, in headless Chromium against the whole platform on kitesim:
sign in, read the dashboard (also in French), place a paper order and see it fill in /orders and
appear in /positions without a reload, see a risk refusal in words, visit every page, log out.
Every page: no console error, axe-core without serious or critical violations, screenshots at
1440×900 and 375×812 (conftest.Browse.check)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.e2e.web.conftest import Browse
from tests.e2e.web.platform import ACCOUNT, TRADER, TRADER_PASSWORD, Platform

pytestmark = pytest.mark.e2e


def test_trader_signs_in_trades_on_paper_sees_it_live_and_signs_out(
        stack: Platform, context: BrowserContext) -> None:
    b = Browse(context.new_page(), stack.url)
    page = b.page
    b.goto("/login")
    expect(page.get_by_role("heading", name="Sign in to Mandi")).to_be_visible()
    b.check("login")
    with b.refused(401):
        page.get_by_label("Username").fill(TRADER)
        page.get_by_label("Password").fill("wrong-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("Sign-in failed")
    page.get_by_label("Password").fill(TRADER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # dashboard: today's P&L, daily loss used, the Kite session of a paper account
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_test_id("today-pnl")).to_have_text(re.compile(r"^[+-]?₹\d"))
    expect(page.get_by_test_id("loss-used")).to_have_text("0.0 %")
    expect(page.get_by_test_id("kite-state")).to_contain_text("paper account")
    expect(page.get_by_text(ACCOUNT)).to_be_visible()
    b.check("dashboard")
    page.get_by_label("Language").select_option("fr")
    expect(page.get_by_role("heading", name="Tableau de bord")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    b.check("dashboard-fr")
    page.get_by_label("Langue").select_option("en")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # a page that lives only in this tab: survives client-side navigation, not a reload
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("link", name="Orders").click()
    expect(page.get_by_role("heading", name=re.compile("^Orders"))).to_be_visible()
    expect(page.get_by_text("Live", exact=True)).to_be_visible()
    form = page.get_by_role("form").or_(page.locator("form"))
    form.get_by_label("Symbol").fill("INFY")
    form.get_by_label("Quantity").fill("5")
    page.get_by_role("button", name="Place order").click()
    row = page.locator("[data-testid=orders-table] tbody tr", has_text="NSE:INFY")
    expect(row).to_have_count(1)
    # the fill arrives over /ws/orders (a fresh platform's first quote can take seconds)
    expect(row.locator("td").nth(6)).to_have_text("COMPLETE", timeout=30_000)
    expect(row.locator("td").nth(4)).to_have_text("5")
    # the risk check's refusal, in its own words, next to the form
    with b.refused(409):
        form.get_by_label("Quantity").fill("200000")
        page.get_by_role("button", name="Place order").click()
        expect(page.get_by_test_id("order-refusal")).to_contain_text(
            re.compile(r"Refused: .*quantity", re.I))
    b.check("orders")

    page.get_by_role("link", name="Positions").click()
    pos = page.locator("[data-testid=positions-table] tbody tr[data-symbol=INFY]")
    expect(pos.locator("td").nth(2)).to_have_text("5")
    expect(pos.locator("td").nth(3)).to_have_text(re.compile(r"^₹\d{1,3}(,\d\d)*,?\d*\.\d\d$"))
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    b.check("positions")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign in to Mandi")).to_be_visible()
    assert not any(c["name"] == "mandi_session" for c in context.cookies())
    assert not b.problems, b.problems
