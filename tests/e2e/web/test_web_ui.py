"""A trader's morning in the web UI, in headless Chromium against the whole platform on kitesim:
sign in, read the dashboard (also in French), place a paper order and see it fill in /orders and
appear in /positions without a reload, see a risk refusal in words, visit every page, log out.
Every page: no console error, axe-core without serious or critical violations, screenshots at
1440×900 and 375×812 (conftest.Browse.check)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from mandi.testing.hdf5_files import day_bars, write_pandas
from tests.e2e.web.conftest import Browse
from tests.e2e.web.platform import ACCOUNT, ADMIN_PASSWORD, TRADER, TRADER_PASSWORD, Platform

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]


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
    expect(page.get_by_test_id("exposure")).to_have_text("Open exposure ₹0.00")
    expect(page.get_by_text("No bots yet.")).to_be_visible()
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
    # a limit order below the market rests: modify its price, then cancel it
    form.get_by_label("Quantity").fill("1")
    form.get_by_label("Order type").select_option("LIMIT")
    form.get_by_label("Price").fill("1500")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/orders")
                              and r.request.method == "POST") as placed:
        page.get_by_role("button", name="Place order").click()
    oid = placed.value.json()["order_id"]
    resting = page.locator(f"[data-testid=orders-table] tbody tr[data-order-id='{oid}']")
    expect(resting.locator("td").nth(6)).to_have_text("OPEN")
    expect(resting.locator("td").nth(5)).to_have_text("₹1,500.00")
    b.check("orders")
    resting.get_by_role("button", name=f"Modify order {oid}").click()
    resting.get_by_label("New limit price").fill("1510.5")
    resting.get_by_role("button", name="Save").click()
    expect(resting.locator("td").nth(5)).to_have_text("₹1,510.50")
    resting.get_by_role("button", name=f"Cancel order {oid}").click()
    expect(resting.locator("td").nth(6)).to_have_text("CANCELLED")
    order = context.request.get(f"{stack.url}/api/v1/orders/{oid}",
                                params={"account_id": ACCOUNT}).json()
    assert (order["order"] if "order" in order else order)["price"] == 1510.5, order

    page.get_by_role("link", name="Positions").click()
    pos = page.locator("[data-testid=positions-table] tbody tr[data-symbol=INFY]")
    expect(pos.locator("td").nth(2)).to_have_text("5")
    expect(pos.locator("td").nth(3)).to_have_text(re.compile(r"^₹\d{1,3}(,\d\d)*,?\d*\.\d\d$"))
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    # the last price and MTM follow the ticks of /ws/market/NSE:INFY
    first_ltp = pos.get_by_test_id("ltp").inner_text()
    expect(pos.get_by_test_id("ltp")).not_to_have_text(first_ltp, timeout=10_000)
    expect(pos.get_by_test_id("mtm")).to_have_text(re.compile(r"^[+-]?₹[\d,]+\.\d\d$"))
    # a GTT stop and target set on the position, shown, then the target modified in place
    ltp = float(pos.get_by_test_id("ltp").inner_text().lstrip("₹").replace(",", ""))
    stop, target, target2 = round(ltp * 0.95), round(ltp * 1.05), round(ltp * 1.1)
    pos.get_by_role("button", name="Edit GTT of INFY").click()
    page.get_by_label("Stop trigger (₹)").fill(str(stop))
    page.get_by_label("Target trigger (₹)").fill(str(target))
    page.get_by_role("button", name="Save GTT").click()
    expect(pos.get_by_test_id("gtt")).to_have_text(f"₹{stop:,}.00 / ₹{target:,}.00")
    gtts = context.request.get(f"{stack.url}/api/v1/gtt", params={"account_id": ACCOUNT}).json()
    [gtt] = [g for g in gtts["gtts"] if g["symbol"] == "INFY"]
    assert sorted((leg["trigger_price"], leg["side"], leg["quantity"]) for leg in gtt["legs"]) == [
        (stop, "SELL", 5), (target, "SELL", 5)], gtt
    b.check("positions")
    pos.get_by_role("button", name="Edit GTT of INFY").click()
    expect(page.get_by_label("Target trigger (₹)")).to_have_value(str(target))
    page.get_by_label("Target trigger (₹)").fill(str(target2))
    page.get_by_role("button", name="Save GTT").click()
    expect(pos.get_by_test_id("gtt")).to_have_text(f"₹{stop:,}.00 / ₹{target2:,}.00")
    gtts = context.request.get(f"{stack.url}/api/v1/gtt", params={"account_id": ACCOUNT}).json()
    [again] = [g for g in gtts["gtts"] if g["symbol"] == "INFY" and g["status"] == gtt["status"]]
    assert again["gtt_id"] == gtt["gtt_id"], (gtt, again)  # modified, not replaced
    assert max(leg["trigger_price"] for leg in again["legs"]) == target2, again

    # square off: the position closes live, the round trip shows in the P&L page as the API has it
    page.get_by_role("button", name="Square off INFY").click()
    expect(page.get_by_text("No open positions")).to_be_visible(timeout=15_000)
    page.get_by_role("link", name="P&L").click()
    expect(page.get_by_test_id("pnl-month")).to_have_text("March 2026")
    trades = context.request.get(f"{stack.url}/api/v1/trades",
                                 params={"account_id": ACCOUNT}).json()
    assert len(trades["trades"]) == 1 and trades["trades"][0]["symbol"] == "INFY", trades
    row = page.locator("[data-testid=trades-table] tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("NSE:INFY")
    expect(row.locator("td").nth(6)).to_have_text(rupees(trades["trades"][0]["net_pnl"]))
    expect(page.get_by_test_id("pnl-summary")).to_contain_text("1 trades")
    day = page.get_by_test_id("pnl-calendar").locator("td", has_text=re.compile(r"^4\D"))
    expect(day).to_contain_text(rupees(trades["trades"][0]["net_pnl"]))
    b.check("pnl-trades")

    # the fills' notifications arrived live (the bell's count); read them all
    expect(page.get_by_test_id("bell")).to_have_attribute(
        "aria-label", re.compile(r"Notifications, [1-9]\d* unread"), timeout=15_000)
    page.get_by_test_id("bell").click()
    expect(page.get_by_test_id("notes").locator("li").first).to_contain_text("INFY")
    b.check("notifications")
    page.get_by_role("button", name="Mark all read").click()
    expect(page.get_by_test_id("unread")).to_have_text("0 unread")
    expect(page.get_by_test_id("bell")).to_have_attribute("aria-label", "Notifications, 0 unread")

    # April's reads may still be on their way: signing out ends them without a 401 (client.ts)
    with page.expect_response(re.compile(r"/api/v1/auth/logout$")):  # ends after leaving
        page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign in to Mandi")).to_be_visible()
    assert not any(c["name"] == "mandi_session" for c in context.cookies())
    b.goto("/orders")  # signed out: a page sends to the sign-in
    expect(page.get_by_role("heading", name="Sign in to Mandi")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login$"))
    assert not b.problems, b.problems


def rupees(value: float) -> str:
    """As the UI writes a signed amount below a lakh: +₹1,234.50 / -₹0.75."""
    assert abs(value) < 100_000
    return ("-" if value < 0 else "+" if value > 0 else "") + f"₹{abs(value):,.2f}"


def sign_in(b: Browse, user: str = TRADER, password: str = TRADER_PASSWORD) -> Page:
    page = b.page
    b.goto("/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return page


COLOURED = """(testid, colours) => {
    let n = 0;
    for (const c of document.querySelectorAll(`[data-testid=${testid}] canvas`)) {
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < px.length; i += 4)
            if (px[i + 3] > 200 && colours.some(([r, g, b]) => Math.abs(px[i] - r) < 12
                && Math.abs(px[i + 1] - g) < 12 && Math.abs(px[i + 2] - b) < 12)) n++;
    }
    return n;
}"""

GOLD_PIXELS = """() => {
    let gold = 0;
    for (const c of document.querySelectorAll('[data-testid=equity-chart] canvas')) {
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < px.length; i += 4)
            if (px[i] > 200 && px[i + 1] > 150 && px[i + 2] < 140 && px[i + 3] > 200) gold++;
    }
    return gold;
}"""


def import_hdf5(page: Page, tmp_path: Path, symbol: str) -> Locator:
    """On /data/browse: a five-day HDF5 store of NSE:<symbol> imported; its dataset row."""
    h5 = write_pandas(tmp_path / "EQUITY.h5", {f"/equity/NSE_{symbol}_day": day_bars(
        ["2025-11-10", "2025-11-11", "2025-11-12", "2025-11-13", "2025-11-14"], 405.0)}, "table")
    page.get_by_text("Import an HDF5 file").click()
    page.get_by_label("HDF5 file").set_input_files(str(h5))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_test_id("br-import")).to_contain_text("5 rows imported into this segment.")
    expect(page.get_by_test_id("br-import")).to_contain_text(
        f"NSE:{symbol} day: 5 imported, 0 skipped")
    row = page.locator("[data-testid=datasets] tbody tr", has_text=f"NSE:{symbol}")
    expect(row.locator("td").nth(2)).to_have_text("5")
    return row


def test_fetch_backtest_bot_and_pnl_calendar(stack: Platform, context: BrowserContext,
                                            tmp_path: Path) -> None:
    b = Browse(context.new_page(), stack.url)
    page = sign_in(b)

    # fetch a year of INFY's daily candles as a job; its progress reaches 100 % live
    page.get_by_role("link", name="Data").click()
    expect(page.get_by_text("No fetch jobs yet")).to_be_visible()
    page.get_by_role("button", name="Fetch").click()
    job = page.locator("[data-testid=jobs-table] tbody tr").first
    expect(job.get_by_test_id("job-pct")).to_have_text("100 %", timeout=30_000)
    expect(job).to_contain_text("done")
    page.get_by_label("Filter").fill("tcs")  # the tables filter (and sort, and page)
    expect(page.get_by_text("Rows: 0")).to_be_visible()
    page.get_by_label("Filter").fill("infy day")
    expect(page.get_by_text("Rows: 1")).to_be_visible()
    # the native date inputs write the day in the browser's order; the day in words beside them
    expect(page.get_by_text("Wed 1 Jan 2025", exact=True)).to_be_visible()
    expect(page.get_by_text("Wed 31 Dec 2025", exact=True)).to_be_visible()
    b.check("data")

    # a backtest on them: progress, the equity line drawn, the trade list as the API has it
    page.get_by_role("link", name="Backtest").click()
    expect(page.get_by_label("Strategy")).to_have_value("ema_crossover")
    with page.expect_response("**/api/v1/backtest/run") as run:
        page.get_by_role("button", name="Run backtest").click()
    run_id = run.value.json()["id"]
    expect(page.get_by_test_id("bt-progress")).to_have_text("Progress 100 %", timeout=30_000)
    expect(page.get_by_test_id("equity-chart").locator("canvas").first).to_be_visible()
    page.wait_for_function(f"({GOLD_PIXELS})() > 200")
    api = context.request.get(f"{stack.url}/api/v1/backtest/{run_id}/results").json()
    assert api["trades"], "the year of INFY should give the EMA crossover trades"
    rows = page.locator("[data-testid=bt-trades] tbody tr")
    expect(rows).to_have_count(min(50, len(api["trades"])))  # 50 a page
    expect(page.get_by_text(f"Rows: {len(api['trades'])}")).to_be_visible()
    expect(page.get_by_test_id("bt-trade-count")).to_have_text(str(api["metrics"]["trades"]))
    first = api["trades"][0]  # the list in entry order, as the API's
    expect(rows.first.locator("td").nth(2)).to_have_text(str(first["quantity"]))
    net = f"{first['net_pnl']:+,.2f}".replace("+", "+₹").replace("-", "-₹")
    if abs(first["net_pnl"]) < 100_000:  # below a lakh the Indian grouping is the Western one
        expect(rows.first.locator("td").nth(7)).to_have_text(net)
    # sorting by net P&L puts the best trade first
    page.get_by_role("button", name="Net P&L").last.click()
    best = max(t["net_pnl"] for t in api["trades"])
    expect(rows.first.locator("td").nth(7)).to_have_text(
        re.compile(re.escape(f"{abs(best):,.2f}"[-6:]) + "$"))
    expect(page.get_by_text("TradingView", exact=True)).to_be_visible()  # its attribution
    dd = api["metrics"]["max_drawdown"] * 100
    expect(page.get_by_text(f"Max drawdown {dd:.2f} %")).to_be_visible()
    csv = context.request.get(stack.url + page.get_by_role("link", name="Trades (CSV)")
                              .get_attribute("href"))
    assert csv.ok and csv.text().count("\n") == len(api["trades"]) + 1, csv.text()[:300]
    expect(page.locator("[data-testid=bt-runs] tbody tr")).to_have_count(1)  # the history
    b.check("backtest")
    # optimisation of two parameters: live progress, then the heatmap holds the API's ranking
    page.get_by_label("Parameter across").select_option("fast")
    page.get_by_label("Values across").fill("5, 10")
    page.get_by_label("Parameter down").select_option("slow")
    page.get_by_label("Values down").fill("20, 30")
    with page.expect_response("**/api/v1/optimize") as opt:
        page.get_by_role("button", name="Run optimisation").click()
    opt_id = opt.value.json()["id"]
    expect(page.get_by_test_id("opt-progress")).to_have_text("Progress 100 %", timeout=30_000)
    ranking = context.request.get(f"{stack.url}/api/v1/optimize/{opt_id}").json()["results"]
    assert len(ranking) == 4, ranking
    cells = page.locator("[data-testid=opt-heatmap] td")
    expect(cells).to_have_count(4)
    for r in ranking:
        sharpe = r["metrics"]["sharpe"]
        cell = page.locator(f"[data-testid=opt-heatmap] td[data-x='{r['params']['fast']}']"
                            f"[data-y='{r['params']['slow']}']")
        expect(cell).to_have_text(f"{sharpe:,.3f}" if sharpe is not None else "—")
    b.check("backtest-optimise")

    # the stored dataset, and from it the chart with SMA/EMA overlays: candles and lines drawn
    stored = context.request.get(f"{stack.url}/api/data/candles/NSE/INFY/day", params={
        "from_date": "2025-01-01", "to_date": "2025-12-31"}).json()["count"]
    assert stored > 200
    page.get_by_role("link", name="Data", exact=True).click()
    page.get_by_role("link", name="Browse stored data →").click()
    dataset = page.locator("[data-testid=datasets] tbody tr", has_text="NSE:INFY")
    expect(dataset.locator("td").nth(2)).to_have_text(f"{stored:,}")
    b.check("data-browse")
    # an HDF5 store imported (seed 001's layout) and its dataset listed; deleting is for admins
    itc = import_hdf5(page, tmp_path, "ITC")
    b.check("data-browse-import")
    expect(itc.get_by_role("button", name="Delete NSE:ITC day")).to_have_count(0)
    page.get_by_role("link", name="Charts: NSE:INFY day").click()
    expect(page.get_by_test_id("chart-summary")).to_contain_text(f"{stored} candles")
    page.wait_for_function(f"({COLOURED})('candle-chart', [[79, 209, 139], [255, 123, 123]]) > 500")
    page.wait_for_function(f"({COLOURED})('candle-chart', [[127, 178, 255]]) > 50")  # SMA line
    b.check("charts")
    # the backtest's trades as markers on its candles: entries and exits, as the API has them
    page.get_by_label("Trades from a backtest").select_option(run_id)
    fills = sum(1 + (t["exit_time"] is not None) for t in api["trades"])
    expect(page.get_by_test_id("chart-markers")).to_have_text(
        f"{fills} trade markers (▲ entry, ▼ exit) from the backtest.")
    page.wait_for_function(f"({COLOURED})('candle-chart', [[46, 196, 255]]) > 20")  # entries
    page.wait_for_function(f"({COLOURED})('candle-chart', [[232, 107, 255]]) > 20")  # exits
    b.check("charts-markers")
    # live: today's minute candles (the simulated session is open) then the stream, with its price
    page.get_by_label("Interval").select_option("minute")
    page.get_by_label("Live candles today").check()
    today = context.request.get(f"{stack.url}/api/v1/market/candles/NSE/INFY",
                                params={"interval": "minute"}).json()["candles"]
    expect(page.get_by_test_id("chart-live")).to_have_text(
        re.compile(r"^Live: (\d+) candles today, last price ₹[\d,]+\.\d\d\.$"), timeout=10_000)
    shown = int(page.get_by_test_id("chart-live").inner_text().split()[1])
    assert shown >= len(today), (shown, len(today))
    if shown == 0:  # the first minute of the simulated session has not closed yet
        expect(page.get_by_text("No closed candle yet today")).to_be_visible()
    b.check("charts-live")

    # a paper bot from a strategy; started, its state changes
    page.get_by_role("link", name="Bots").click()
    expect(page.get_by_text("No bots yet")).to_be_visible()
    expect(page.get_by_label("Strategy")).to_have_value("ema_crossover")  # the types, loaded
    page.get_by_role("button", name="Create a bot").click()
    status = page.locator("[data-testid=bots-table] tbody tr").first.get_by_test_id("bot-status")
    expect(status).to_have_text("created")
    page.get_by_role("button", name="Start ema-infy").click()
    expect(status).not_to_have_text("created", timeout=15_000)
    started = status.inner_text()
    assert started in ("starting", "running", "warming_up", "warmup"), started
    # its live log (/ws/logs) has the runner's records, as GET …/logs has them
    page.get_by_role("button", name="Log of ema-infy").click()
    log = page.get_by_test_id("bot-log")
    expect(log.locator(".line").first).to_be_visible(timeout=15_000)
    bot_id = page.locator("[data-testid=bots-table] tbody tr").first.get_attribute("data-bot-id")
    logs = context.request.get(f"{stack.url}/api/v1/bots/{bot_id}/logs").json()["logs"]
    assert logs, "the runner logged nothing"
    events = {r["event"] for r in logs}
    assert any(e in log.inner_text() for e in events), (events, log.inner_text())
    # its signals and the parity report of the day (against the day's backtest)
    expect(page.get_by_test_id("no-signals").or_(page.get_by_text(" · "))).not_to_have_count(0)
    parity = context.request.get(f"{stack.url}/api/v1/bots/{bot_id}/parity",
                                 params={"date": "2026-03-04"})
    if parity.ok:  # the report, or the service's reason why not (the day is not over) in words
        page.get_by_role("button", name="Show the report").click()
        expect(page.get_by_test_id("parity")).to_contain_text(
            f"{parity.json()['unexplained']} unexplained differences")
    else:  # the service's reason why not (the bot has not run that day): a notice, no error
        assert parity.status == 409, parity.text
        with b.refused(409):
            page.get_by_role("button", name="Show the report").click()
            reason = re.fullmatch(r"date: bot \S+ (did not run on \S+)", parity.json()["error"])
            assert reason is not None, parity.json()
            expect(page.get_by_test_id("parity-notice")).to_have_text(
                f"No report: The bot {reason[1]}.")
        expect(page.get_by_role("alert")).to_have_count(0)
    b.check("bots")

    # a named strategy: validated by the strategy service (its refusal in words), saved,
    # deployed as a second paper bot
    page.get_by_role("link", name="Strategies").click()
    expect(page.get_by_text("No saved strategies yet")).to_be_visible()
    params = page.get_by_label("Parameters (JSON)")
    expect(params).to_have_value(re.compile('"fast"'))  # the type's defaults, loaded
    params.fill('{"fast": 0, "slow": 20}')
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_test_id("st-result")).to_contain_text("fast")
    expect(page.get_by_test_id("st-result")).not_to_contain_text("Valid:")
    page.get_by_label("Parameters (JSON)").fill('{"fast": 5, "slow": 20}')
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_test_id("st-result")).to_contain_text("Valid: the strategy service")
    page.get_by_role("button", name="Save strategy").click()
    expect(page.locator("[data-testid=strategies] tbody tr")).to_have_count(1)
    saved = context.request.get(f"{stack.url}/api/v1/strategies").json()["strategies"]
    assert [(x["name"], x["params"]["fast"]) for x in saved] == [("my-ema", 5)], saved
    b.check("strategies")
    page.get_by_role("button", name="Deploy as paper bot my-ema").click()
    expect(page).to_have_url(re.compile(r"/bots$"))
    deployed = page.locator("[data-testid=bots-table] tbody tr", has_text="my-ema-bot")
    expect(deployed).to_have_count(1)
    # it never ran, so the parity of its day is the service's ordinary "did not run": shown as
    # a neutral notice (not red, not an alert) in the user's language (the French screenshot);
    # the picked day also in words
    deployed.get_by_role("button", name="Log of my-ema-bot").click()
    day = page.get_by_label("Day", exact=True).input_value()
    expect(page.get_by_text(date.fromisoformat(day).strftime("%a %-d %b %Y"))).to_be_visible()
    with b.refused(409):
        page.get_by_role("button", name="Show the report").click()
        notice = page.get_by_test_id("parity-notice")
        expect(notice).to_have_text(f"No report: The bot did not run on {day}.")
    expect(notice).to_have_class("alert info")
    expect(page.get_by_role("alert")).to_have_count(0)
    b.check("bots-parity-notice")

    # the visual rule builder: rules added, refused by the service naming the rule's field,
    # disabled, saved as the service's rules document, exported, imported, deployed as a bot
    page.get_by_role("link", name="Strategies").click()
    expect(page.get_by_role("heading", name="New strategy")).to_be_visible()  # not /bots' form
    expect(page.locator("[data-testid=strategies] tbody tr")).to_have_count(1)
    page.get_by_label("Name", exact=True).fill("my-rules")
    page.get_by_role("combobox", name="Strategy").select_option("rules")
    builder = page.get_by_test_id("rule-builder")
    expect(builder.get_by_test_id("rule")).to_have_count(1)
    builder.get_by_role("button", name="+ AND condition").click()
    builder.get_by_role("button", name="+ Add a rule").click()
    expect(builder.get_by_test_id("rule")).to_have_count(2)
    second = builder.get_by_test_id("rule").nth(1)
    second.get_by_label("Rule id").fill("rule-1")  # a duplicate id: the service names it
    second.get_by_label("Action").select_option("exit")
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_test_id("st-result")).to_contain_text("rules[1].id")
    second.get_by_label("Rule id").fill("stop")
    second.get_by_label("Kind, condition 1 right").select_option("value")
    second.get_by_label("Number, condition 1 right").fill("1500")
    second.get_by_label("Kind, condition 1 left").select_option("price")
    second.get_by_label("Enabled").uncheck()
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_test_id("st-result")).to_contain_text("Valid: the strategy service")
    page.get_by_role("button", name="Save strategy").click()
    expect(page.get_by_test_id("st-result")).to_contain_text("Strategy my-rules saved")
    expect(page.locator("[data-testid=strategies] tbody tr")).to_have_count(2)
    mine = {x["name"]: x for x in
            context.request.get(f"{stack.url}/api/v1/strategies").json()["strategies"]}
    rules = mine["my-rules"]["rules"]["rules"]
    assert [(r["id"], r["action"], r["enabled"]) for r in rules] == [
        ("rule-1", "buy", True), ("stop", "exit", False)], rules
    assert [c["op"] for c in rules[0]["when"]["all"]] == ["crosses_above", "<"], rules
    assert rules[1]["when"]["all"][0]["left"] == {"price": "close"}, rules
    assert rules[1]["when"]["all"][0]["right"]["value"] == 1500, rules
    exported = context.request.get(
        f"{stack.url}/api/v1/strategies/{mine['my-rules']['id']}/export").json()
    exported["name"] = "my-rules-copy"
    page.get_by_label("Import JSON file").set_input_files(files=[{
        "name": "copy.json", "mimeType": "application/json",
        "buffer": json.dumps(exported).encode()}])
    expect(page.get_by_test_id("st-result")).to_contain_text("Strategy my-rules-copy imported")
    expect(page.locator("[data-testid=strategies] tbody tr")).to_have_count(3)
    page.get_by_role("button", name="Edit my-rules-copy in the builder").click()
    expect(builder.get_by_test_id("rule")).to_have_count(2)
    expect(builder.get_by_test_id("rule").nth(1).get_by_label("Enabled")).not_to_be_checked()
    b.check("strategies-rules")
    page.get_by_role("button", name="Deploy as paper bot my-rules-copy").click()
    expect(page).to_have_url(re.compile(r"/bots$"))
    expect(page.locator("[data-testid=bots-table] tbody tr",
                        has_text="my-rules-copy-bot")).to_have_count(1)

    # the watchlist: a symbol the instrument master lacks is refused in words; TCS ticks live
    page.get_by_role("link", name="Watchlist").click()
    expect(page.get_by_text("Your watchlist is empty")).to_be_visible()
    with b.refused(400):
        page.get_by_label("Symbol (EXCHANGE:SYMBOL)").fill("NSE:NOSUCH1")
        page.get_by_role("button", name="Add").click()
        expect(page.get_by_test_id("wl-error")).to_contain_text("not in the instrument master")
    page.get_by_label("Symbol (EXCHANGE:SYMBOL)").fill("tcs")
    page.get_by_role("button", name="Add").click()
    item = page.locator("[data-testid=watchlist] li[data-symbol='NSE:TCS']")
    expect(item.get_by_test_id("wl-ltp")).to_have_text(re.compile(r"^₹[\d,]+\.\d\d$"))
    b.check("watchlist")
    page.get_by_role("button", name="Remove NSE:TCS").click()
    expect(page.get_by_text("Your watchlist is empty")).to_be_visible()

    # settings: the language, the account's Kite session and limits, an API key that works
    # for scripts until it is revoked
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("radio", name="Français").check()
    expect(page.get_by_role("heading", name="Réglages", exact=True)).to_be_visible()
    page.get_by_role("radio", name="English").check()
    expect(page.get_by_test_id(f"kite-{ACCOUNT}")).to_have_text("Not needed (paper account)")
    expect(page.locator(f"[data-account={ACCOUNT}]")).to_contain_text("₹5,000.00")  # loss limit
    page.get_by_label("Name of a new key").fill("script")
    page.get_by_role("button", name="Create API key").click()
    key = page.get_by_test_id("new-key").inner_text()
    me = context.request.get(f"{stack.url}/api/v1/auth/me", headers={"X-API-Key": key})
    assert me.ok and me.json()["username"] == TRADER, me.text()
    b.check("settings")
    page.get_by_role("button", name="Revoke key script").click()
    expect(page.get_by_text("No API keys")).to_be_visible()
    assert context.request.get(f"{stack.url}/api/v1/auth/me",
                               headers={"X-API-Key": key}).status == 401

    # the P&L calendar of the exchange's month (March 2026 on kitesim)
    page.get_by_role("link", name="P&L").click()
    expect(page.get_by_test_id("pnl-month")).to_have_text("March 2026")
    expect(page.get_by_test_id("pnl-calendar").locator("tbody tr")).to_have_count(6)
    b.check("pnl")
    page.get_by_role("button", name="Next month").click()
    expect(page.get_by_test_id("pnl-month")).to_have_text("April 2026")

    # April's reads may still be on their way: signing out ends them without a 401 (client.ts)
    with page.expect_response(re.compile(r"/api/v1/auth/logout$")):  # ends after leaving
        page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign in to Mandi")).to_be_visible()
    assert not b.problems, b.problems


# the page's reads of a path held 0.4 s inside the page
SLOW_READ = """(path) => {
    const real = window.fetch;
    window.fetch = async (url, init) => {
        const r = await real(url, init);
        if (String(url).includes(path)) await new Promise((ok) => setTimeout(ok, 400));
        return r;
    };
}"""


def test_admin_creates_a_trader_grants_an_account_and_sets_a_risk_limit(
        stack: Platform, context: BrowserContext, tmp_path: Path) -> None:
    b = Browse(context.new_page(), stack.url)
    page = sign_in(b, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name="Admin").click()
    expect(page.locator("[data-testid=users] tbody tr[data-user=asha]")).to_contain_text(ACCOUNT)
    # a bad user name is refused in the API's words, next to the form
    with b.refused(400):
        page.get_by_role("textbox", name="Username").fill("Ravi Kumar")
        page.get_by_label("Password").fill("ravi-pw-web-ui-1")
        page.get_by_role("button", name="Create user").click()
        expect(page.get_by_test_id("adm-error")).to_contain_text("username")
    page.get_by_role("textbox", name="Username").fill("ravi")
    page.get_by_label("Password").fill("ravi-pw-web-ui-1")
    page.get_by_role("button", name="Create user").click()
    ravi = page.locator("[data-testid=users] tbody tr[data-user=ravi]")
    expect(ravi).to_contain_text("trader")
    page.locator("select[name=grant_user]").select_option("ravi")
    page.locator("select[name=grant_account]").select_option(ACCOUNT)
    page.get_by_role("button", name="Grant", exact=True).click()
    expect(ravi).to_contain_text(ACCOUNT)
    page.locator("select[name=risk_account]").select_option(ACCOUNT)
    page.get_by_label("Daily loss limit (₹)").fill("6000.50")
    page.get_by_role("button", name="Save limits").click()
    expect(page.get_by_text(f"Limits of {ACCOUNT} saved.")).to_be_visible()
    limits = context.request.get(f"{stack.url}/api/v1/risk",
                                 params={"account_id": ACCOUNT}).json()["limits"]
    assert limits["daily_loss_limit"] == 6000.5, limits
    b.check("admin")
    # an admin deletes a stored dataset (after a confirmation), here one just imported
    page.goto(stack.url + "/data/browse")
    wipro = import_hdf5(page, tmp_path, "WIPRO")
    page.get_by_role("button", name="Delete NSE:WIPRO day").click()
    page.get_by_role("button", name="Confirm: delete every NSE:WIPRO day bar").click()
    expect(page.get_by_test_id("br-notice")).to_have_text("5 bars of NSE:WIPRO day deleted.")
    expect(wipro).to_have_count(0)
    assert context.request.get(f"{stack.url}/api/data/candles/NSE/WIPRO/day", params={
        "from_date": "2025-11-01", "to_date": "2025-11-30"}).json()["count"] == 0
    # the accounts' read held 0.4 s: the limit typed meanwhile is neither overwritten by the
    # read nor sent half-filled (the form opens once the read is in)
    page.evaluate(SLOW_READ, "/api/v1/accounts")
    page.get_by_role("link", name="Admin").click()
    page.get_by_label("Daily loss limit (₹)").fill("5000")  # as it was
    page.get_by_role("button", name="Save limits").click()
    expect(page.get_by_text(f"Limits of {ACCOUNT} saved.")).to_be_visible()
    # April's reads may still be on their way: signing out ends them without a 401 (client.ts)
    with page.expect_response(re.compile(r"/api/v1/auth/logout$")):  # ends after leaving
        page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign in to Mandi")).to_be_visible()
    assert not b.problems, b.problems




def test_signing_out_mid_read_ends_the_page_reads_without_a_401(
        stack: Platform, context: BrowserContext) -> None:
    """The P&L page reads the calendar, then the trades: signed out between the two, the second
    read must not go out (it drew a 401 that the browser logged)."""
    b = Browse(context.new_page(), stack.url)
    page = sign_in(b)
    page.get_by_role("link", name="P&L").click()
    expect(page.get_by_test_id("pnl-month")).to_have_text("March 2026")
    page.evaluate(SLOW_READ, "/api/pnl-calendar")  # the calendar's answer held 0.4 s
    with page.expect_request(re.compile(r"/api/pnl-calendar\?.*2026-04-01")):
        page.get_by_role("button", name="Next month").click()
    with page.expect_response(re.compile(r"/api/v1/auth/logout$")):
        page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign in to Mandi")).to_be_visible()
    page.wait_for_timeout(800)  # past the held answer and the read that used to follow it
    assert not b.problems, b.problems
