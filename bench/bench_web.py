"""Web UI page weight and speed (issue #15): the first load of `/` by a signed-in trader in
Debian's headless Chromium against the whole platform on kitesim (tests/e2e/web/platform.py).

    python bench/bench_web.py [--runs 5]

Reports the JavaScript the first load fetches (raw and gzip -9 compressed, every script and
module preload counted once) and, per cold load (a new browser context, empty cache), the time
from navigation to `domInteractive` and to the dashboard showing today's P&L (data from the
API drawn). Budgets: under 500 kB compressed JavaScript and interactive within 1 s; exits 1
when either is missed."""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from playwright.sync_api import sync_playwright

from tests.e2e.web.conftest import ARGS, CHROMIUM
from tests.e2e.web.platform import TRADER, TRADER_PASSWORD, platform

JS_BUDGET = 500 * 1024
INTERACTIVE_BUDGET_S = 1.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    runs = ap.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp, platform(Path(tmp)) as stack, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        interactive, drawn, js = [], [], {}
        for i in range(runs + 1):  # the first run warms the platform's caches, not timed
            ctx = browser.new_context(viewport={"width": 1440, "height": 900})
            r = ctx.request.post(f"{stack.url}/api/v1/auth/session",
                                 data={"username": TRADER, "password": TRADER_PASSWORD})
            assert r.ok, r.text()
            page = ctx.new_page()
            scripts: dict[str, bytes] = {}
            page.on("response", lambda resp, s=scripts: s.__setitem__(resp.url, resp.body())
                    if resp.request.resource_type == "script" or resp.url.endswith(".js")
                    else None)
            t0 = time.perf_counter()
            page.goto(stack.url + "/")
            page.get_by_test_id("today-pnl").wait_for()
            t_drawn = time.perf_counter() - t0
            nav = page.evaluate("performance.getEntriesByType('navigation')[0].toJSON()")
            if i:
                interactive.append(nav["domInteractive"] / 1000)
                drawn.append(t_drawn)
                js = scripts
            ctx.close()
        browser.close()
    raw = sum(len(b) for b in js.values())
    packed = sum(len(gzip.compress(b, 9)) for b in js.values())
    print(f"first load of /: {len(js)} JavaScript files, {raw / 1024:.1f} kB raw, "
          f"{packed / 1024:.1f} kB gzip (budget {JS_BUDGET // 1024} kB)")
    print(f"domInteractive: median {statistics.median(interactive) * 1000:.0f} ms, "
          f"max {max(interactive) * 1000:.0f} ms over {runs} cold loads")
    print(f"dashboard drawn (today's P&L from the API): median "
          f"{statistics.median(drawn) * 1000:.0f} ms, max {max(drawn) * 1000:.0f} ms "
          f"(budget {INTERACTIVE_BUDGET_S * 1000:.0f} ms)")
    ok = packed < JS_BUDGET and statistics.median(drawn) < INTERACTIVE_BUDGET_S
    print("web: within budget" if ok else "web: OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
