"""Browser tests of the web UI: Debian's Chromium (/usr/bin/chromium, installed by
scripts/install_chromium.sh from `make setup`) driven headless by Python Playwright against the
whole platform on kitesim (platform.py). One platform and one browser per module; every page
visit goes through `Browse.visit`, which fails on any console error or uncaught page error,
runs axe-core (from web/node_modules) and fails on serious or critical violations, and writes
screenshots at 1440×900 and 375×812 to test-artifacts/screens/ (README); at 375 px no page may
be wider than the viewport, in English and in French (`fits`, with a French screenshot)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

from tests.e2e.web.platform import Platform, platform

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
SCREENS = ROOT / "test-artifacts" / "screens"
VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 375, "height": 812}}
# Chromium's flags for a closed network (no Google lookups, no background connections)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class Browse:
    """One signed-in tab and what it logged."""

    page: Page
    base: str
    problems: list[str] = field(default_factory=list)
    axe_counts: dict[str, int] = field(default_factory=dict)
    expected_status: int | None = None  # a refusal the test provokes on purpose

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type != "error":
            return
        # the browser itself logs every 4xx answer; one the test provoked is not a fault
        if self.expected_status and f"status of {self.expected_status}" in msg.text:
            self.expected_status = None
            return
        where = msg.location.get("url") or "?"  # the resource that answered, for a 4xx
        self.problems.append(f"console error on {self.page.url} from {where}: {msg.text}")

    @contextmanager
    def refused(self, status: int) -> Iterator[None]:
        """Within the block, the one 4xx answer of this status the test provokes."""
        self.expected_status = status
        yield
        self.expected_status = None

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def check(self, name: str) -> None:
        """No console error so far, axe clean (serious/critical), screenshots at both sizes, no
        sideways scrolling at 375 px in either language."""
        page = self.page
        page.wait_for_load_state("networkidle")
        violations = axe(page)
        bad = [v for v in violations if v["impact"] in ("serious", "critical")]
        self.axe_counts[name] = len(bad)
        assert not bad, f"{name}: axe " + json.dumps(
            [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"][:3]]) for v in bad],
            indent=1)
        shoot(page, name)
        assert not self.problems, f"{name}: " + "\n".join(self.problems)


def axe(page: Page) -> list[dict]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => (await axe.run(document, {
        runOnly: {type: 'tag',
                  values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}
    })).violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                              nodes: v.nodes.map(n => ({target: n.target}))}))""")


# the elements whose right edge is past the viewport, outside any box that scrolls or clips
# them (a wide table in its .table-wrap is fine): what makes the page scroll sideways
WIDER = """() => {
    const w = innerWidth, out = [];
    const clipped = (el) => {
        for (let p = el.parentElement; p && p !== document.body; p = p.parentElement)
            if (getComputedStyle(p).overflowX !== 'visible') return true;
        return false;
    };
    for (const el of document.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.right <= w + 0.5 || clipped(el)) continue;
        const cls = el.classList.length ? '.' + [...el.classList].join('.') : '';
        out.push(`${el.tagName.toLowerCase()}${cls}`
            + ` right=${Math.round(r.right)} "${(el.textContent || '').trim().slice(0, 30)}"`);
    }
    return {scroll: document.documentElement.scrollWidth, inner: w, wider: out.slice(-6)};
}"""
LANGS = {"en": "English", "fr": "Français"}


def set_lang(page: Page, lang: str) -> None:
    """The UI's own language switch: the top bar's select, or the sign-in page's buttons."""
    select = page.locator("header select:has(option[value=fr])")
    if select.count():
        select.select_option(lang)
    else:
        page.get_by_role("button", name=LANGS[lang], exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)


def fits(page: Page, name: str) -> None:
    """No sideways scrolling: the page is no wider than the viewport."""
    got = page.evaluate(WIDER)
    assert got["scroll"] <= got["inner"], \
        f"{name}: {got['scroll']} px wide at {got['inner']} px: " + "; ".join(got["wider"])


def shoot(page: Page, name: str) -> None:
    """Screenshots at 1440 and 375 px; at 375 px the page must fit, in every language (the
    current one, then each other one, then back to the current one)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for label, vp in VIEWPORTS.items():
        page.set_viewport_size(vp)
        page.wait_for_timeout(150)  # a re-layout
        page.screenshot(path=str(SCREENS / f"{name}-{label}.png"), full_page=True)
    current = page.evaluate("document.documentElement.lang") or "en"
    fits(page, f"{name} ({current})")
    for lang in [x for x in LANGS if x != current]:
        set_lang(page, lang)
        page.wait_for_timeout(150)
        page.screenshot(path=str(SCREENS / f"{name}-phone-{lang}.png"), full_page=True)
        fits(page, f"{name} ({lang})")
    if len(LANGS) > 1:
        set_lang(page, current)
    if size:
        page.set_viewport_size(size)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    assert (ROOT / "web" / "build" / "index.html").is_file(), \
        "web/build is missing: run make setup (it builds the web UI)"
    assert AXE.is_file(), "web/node_modules is missing: run make setup"
    with platform(tmp_path_factory.mktemp("web-platform")) as p:
        yield p


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run make setup " \
        "(scripts/install_chromium.sh)"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=VIEWPORTS["desktop"], locale="en-IN",
                              timezone_id="Europe/Paris")  # IST must come from the app
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()
