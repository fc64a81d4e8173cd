"""A real browser against the app under waitress: pages load, plotly draws SVG, the
contour pair picker redraws, the trials filter form filters, and checked trials compare.

Skipped where Debian's chromium is not installed (``apt-get install -y chromium``).
Screenshots go to test-artifacts/ (gitignored).
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.live_server import live_server
from tests.webui.shots import screenshot

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")


@contextlib.contextmanager
def chromium_page(width: int = 1400, console_errors: bool = False):
    """A ``width`` x 1000 page in a fresh headless Chromium, and the list that the page's
    uncaught script errors (and, with ``console_errors``, its console's errors) go to;
    the browser closes with the block."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            if console_errors:
                page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            yield page, errors
        finally:
            browser.close()


@pytest.fixture
def live_url(app, filled):
    with live_server(app) as url:
        yield url


def test_study_page_charts_filter_contour_and_compare(live_url, filled):
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium_page() as (page, errors):
        page.goto(live_url + "/")
        page.click("text=done-study")
        # The six charts arrive from the plots API after the page has rendered.
        for name in ["history", "curves", "importance", "slice", "contour"]:
            page.wait_for_selector(f"#chart-{name} .main-svg", timeout=20000)
        # Parallel coordinates are WebGL: drawn where the browser has it, else a note.
        page.wait_for_selector("#chart-parallel .main-svg, #chart-parallel.chart-error",
                               timeout=20000)
        screenshot(page, ARTIFACTS / "study.png")
        # Pair picker: the contour is refetched for the chosen pair.
        page.select_option("#contour-x", "optimizer")
        page.wait_for_selector("#chart-contour .xtitle:has-text('optimizer')", timeout=15000)
        # Filter form: lr range and optimizer, applied server-side.
        page.fill("input[name='param.lr.min']", "0.0009")
        page.select_option("select[name='param.optimizer']", "adam")
        page.click("#trial-filters button")
        page.wait_for_url("**param.lr.min=0.0009**")
        assert page.locator("#trials-table tr").count() == 1 + 2  # trials 2 and 4
        # Compare: one ticked row is refused in place, two open the comparison.
        page.check("input[name=trials][value='2']")
        page.click("#compare-trials button")
        page.wait_for_selector(".compare-note:has-text('1 ticked')", timeout=5000)
        page.check("input[name=trials][value='4']")
        page.click("#compare-trials button")
        page.wait_for_url("**/compare?trials=2&trials=4")
        page.wait_for_selector("#chart-compare-trials .main-svg", timeout=15000)
        assert page.locator("#chart-compare-trials .trace").count() == 2
        assert page.locator("#params-diff tr.differs").count() >= 2  # lr, dropout
        screenshot(page, ARTIFACTS / "compare-trials.png")
        page.goto(f"{live_url}/studies/{filled['done']}/trials/0")
        page.wait_for_selector("#chart-metrics .main-svg", timeout=15000)
        screenshot(page, ARTIFACTS / "trial.png")
        assert errors == []


def test_running_study_updates_without_reload(live_url, store, filled):
    """New results appear in the trials table, the best-trial card and the charts in place."""
    import time

    from hpsearch.store import TrialStatus

    sid = filled["empty"]  # QUEUED: the page polls it
    with chromium_page() as (page, errors):
        page.goto(f"{live_url}/studies/{sid}")
        page.wait_for_selector("#chart-history .main-svg", timeout=20000)
        page.evaluate("window.__same_page = true")  # gone if the page reloads
        page.wait_for_timeout(2500)  # the first poll notes the study as it was
        t = time.time()
        store.apply([("trial", sid, "r0", 0, {"lr": 0.01, "dropout": 0.1, "optimizer": "sgd"},
                      TrialStatus.RUNNING, t),
                     ("result", sid, "r0", 1, 0.9, {"val_accuracy": 0.9}, t),
                     ("status", sid, "r0", TrialStatus.COMPLETED, {"value": 0.9}, t)])
        page.wait_for_selector("#trials-table a:has-text('0')", timeout=20000)
        page.wait_for_selector("#best a:has-text('trial 0')", timeout=20000)
        page.wait_for_selector("#chart-history .scatterlayer .point", timeout=20000)
        assert page.evaluate("window.__same_page === true")
        assert errors == []


def test_study_page_draws_embedded_figures_without_requests(live_url, filled):
    """A second visit finds the figures built by the first in the page itself: every chart
    draws (no error note) and no chart is fetched."""
    every_chart = """() => [...document.querySelectorAll('.chart[data-src]')].every(
        el => el.querySelector('.main-svg') || el.classList.contains('chart-error'))"""
    with chromium_page() as (page, errors):
        url = f"{live_url}/studies/{filled['done']}"
        page.goto(url)
        page.wait_for_function(every_chart, timeout=30000)
        fetched: list[str] = []
        page.on("request", lambda r: fetched.append(r.url) if "/plots/" in r.url else None)
        page.goto(url)
        page.wait_for_function(every_chart, timeout=30000)
        assert page.locator(".chart.chart-error").count() == 0
        assert page.locator(".chart[data-src]:has(.main-svg)").count() == page.locator(".chart[data-src]").count() >= 9
        assert fetched == []
        assert page.locator('script[data-plot^="chart-"]').count() == 0  # each used once
        assert errors == []
