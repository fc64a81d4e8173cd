"""The web UI in a real Chromium (WebGL through SwiftShader) under the pages' real CSP.

Every chart on every page must draw: a chart that shows an error note instead of a
plot fails the test. Also: the live page, the contour pair picker, compare studies,
errors kept in place, the queued-study hint, a phone-width layout and the keyboard.
One server and one browser for the module; a screenshot per page in test-artifacts/.
"""
from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.webui.conftest import fill, make_spec
from tests.live_server import live_server
from tests.webui.test_browser import ARTIFACTS, CHROMIUM
from tests.webui.shots import screenshot

pytestmark = [pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium"),
              pytest.mark.browser]
GL_ARGS = ["--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader",
           "--ignore-gpu-blocklist", "--disable-background-networking",
           "--disable-component-update", "--no-first-run"]
STUDY_CHARTS = ["history", "curves", "parallel", "importance", "slice", "contour", "edf", "rank",
                "timeline"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from webui import create_app

    old = os.environ.get("HPSEARCH_ALLOWED_MODULES")
    os.environ["HPSEARCH_ALLOWED_MODULES"] = "tests.helpers"  # the submit test's trainable
    url = f"sqlite:///{tmp_path_factory.mktemp('ui') / 'web.db'}"
    store = Store(url)
    ids = {}
    for name, over in [("done-study", {}), ("loss-study", {"metric": "val_loss", "mode": "min"})]:
        row = store.create_study(make_spec(name, **over), status=StudyStatus.RUNNING)
        fill(store, row.id, n=8)
        store.set_study_status(row.id, StudyStatus.COMPLETED)
        ids[name] = row.id
    ids["queued"] = store.create_study(make_spec("queued-study"), status=StudyStatus.QUEUED).id
    ids["live"] = store.create_study(make_spec("live-study"), status=StudyStatus.RUNNING).id
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    ARTIFACTS.mkdir(exist_ok=True)
    with live_server(app, threads=6) as base:
        yield SimpleNamespace(url=base, store=store, ids=ids)
    store.dispose()
    if old is None:
        os.environ.pop("HPSEARCH_ALLOWED_MODULES", None)
    else:
        os.environ["HPSEARCH_ALLOWED_MODULES"] = old


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=GL_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def desktop(browser):
    """One context for the module: its HTTP cache keeps plotly.js (cached by content hash)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield ctx
    ctx.close()


@pytest.fixture
def page(desktop):
    """A page that records script errors and CSP violations (each test asserts none)."""
    pg = desktop.new_page()
    pg.problems = []
    pg.on("pageerror", lambda e: pg.problems.append(f"pageerror: {e}"))
    pg.on("console", lambda m: m.type == "error" and "Content Security Policy" in m.text
          and pg.problems.append(f"csp: {m.text}"))
    yield pg
    pg.close()


def drawn(page, chart_ids, timeout=30_000) -> None:
    """Wait until each chart drew or failed; fail on any error note instead of a plot."""
    for cid in chart_ids:
        page.wait_for_selector(f"#{cid} .main-svg, #{cid}.chart-error", timeout=timeout)
    notes = [page.locator(f"#{cid}.chart-error").inner_text() for cid in chart_ids
             if page.locator(f"#{cid}.chart-error").count()]
    assert notes == [], f"charts show errors instead of plots: {notes}"
    for cid in chart_ids:
        assert page.locator(f"#{cid} .main-svg").count() >= 1, cid


def until(page, js: str, timeout: float = 10.0) -> float:
    """Poll ``js`` (an expression) until true; the seconds it took. (Playwright's own
    wait_for_function evaluates a string with eval, which the pages' CSP refuses.)"""
    start = time.monotonic()
    while not page.evaluate(js):
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true after {timeout} s: {js}")
        page.wait_for_timeout(50)
    return time.monotonic() - start


def test_every_chart_on_every_page_draws_under_the_csp(site, page):
    sid = site.ids["done-study"]
    page.goto(f"{site.url}/studies/{sid}")
    drawn(page, [f"chart-{n}" for n in STUDY_CHARTS])
    # Parallel coordinates: SVG lines (no WebGL to start), one trace per colour band.
    assert page.locator("#chart-parallel .scatterlayer .trace").count() >= 2
    csp = page.evaluate("fetch(location.href).then(r => r.headers.get('content-security-policy'))")
    assert "unsafe-eval" not in csp and "script-src 'self'" in csp
    screenshot(page, ARTIFACTS / "ui-study.png")
    for path, chart, shot in [(f"/studies/{sid}/trials/2", "chart-metrics", "ui-trial"),
                              (f"/studies/{sid}/compare?trials=2&trials=4", "chart-compare-trials",
                               "ui-compare-trials"),
                              (f"/compare?ids={sid},{site.ids['loss-study']}", "chart-compare",
                               "ui-compare")]:
        page.goto(site.url + path)
        drawn(page, [chart])
        screenshot(page, ARTIFACTS / f"{shot}.png")
    for path, shot in [("/", "ui-studies"), ("/submit", "ui-submit")]:
        page.goto(site.url + path)
        screenshot(page, ARTIFACTS / f"{shot}.png")
    assert page.problems == []


def test_live_page_shows_a_running_trials_new_results_within_2s(site, page):
    sid, store = site.ids["live"], site.store
    t = time.time()
    params = {"lr": 0.01, "dropout": 0.1, "optimizer": "sgd"}
    store.apply([("trial", sid, "live0", 0, params, TrialStatus.RUNNING, t),
                 ("result", sid, "live0", 1, 0.5, {"val_accuracy": 0.5}, t)])
    page.goto(f"{site.url}/studies/{sid}")
    drawn(page, ["chart-curves", "chart-history"])
    until(page, "document.getElementById('chart-curves').data.length === 1")
    page.evaluate("window.__same_page = true")  # gone if the page reloads
    points = "document.getElementById('chart-curves').data[0].x.length"
    for it in (2, 3):
        sent = time.monotonic()
        store.apply([("result", sid, "live0", it, 0.5 + it / 10, {"val_accuracy": 0.5 + it / 10},
                      time.time())])
        # Polled every second: about 2 s at most (3 s allowed for a loaded test machine).
        until(page, f"{points} === {it}", timeout=3.0)
        assert time.monotonic() - sent < 3.0
        cell = page.locator("#trials-table tr[data-trial='0'] [data-col=iterations]")
        assert cell.inner_text() == str(it)
    assert page.evaluate("window.__same_page === true")
    screenshot(page, ARTIFACTS / "ui-live.png")
    assert page.problems == []


def test_contour_pair_picker_recovers_after_the_same_parameter_twice(site, page):
    page.goto(f"{site.url}/studies/{site.ids['done-study']}")
    drawn(page, ["chart-contour"])
    page.select_option("#contour-x", "dropout")
    page.select_option("#contour-y", "dropout")
    page.wait_for_selector("#chart-contour.chart-error:has-text('two different')")
    page.select_option("#contour-y", "optimizer")
    page.wait_for_selector("#chart-contour .main-svg", timeout=10_000)
    page.wait_for_selector("#chart-contour .xtitle:has-text('dropout')", timeout=10_000)
    page.wait_for_selector("#chart-contour .ytitle:has-text('optimizer')", timeout=10_000)
    assert page.locator("#chart-contour.chart-error").count() == 0
    assert page.problems == []


def test_chart_controls_log_y_metric_picker_and_click_to_open_a_trial(site, page):
    sid = site.ids["done-study"]
    page.goto(f"{site.url}/studies/{sid}")
    drawn(page, ["chart-history", "chart-curves"])
    page.check("#history-logy")
    until(page, "document.getElementById('chart-history')._fullLayout.yaxis.type === 'log'")
    page.select_option("#curves-metric", "loss")
    until(page, "document.getElementById('chart-curves').layout.yaxis.title.text === 'loss'")
    # A click on a trial's point opens that trial. The best trial's marker lies under the
    # best-so-far line's point, and either opens it. The hover label shows once plotly
    # has found the point under the mouse (after the log-scale redraw has placed it).
    point = page.locator("#chart-history .scatterlayer .trace").first.locator(".point").last
    box = point.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    until(page, "Array.from(document.querySelectorAll('#chart-history .hoverlayer .hovertext'))"
                ".some(e => e.textContent.includes('click to open'))")
    page.mouse.click(x, y)
    # "commit": the trial page's own load (its plotly script) may take longer than this
    # wait on a loaded CI machine; drawn() below waits for what the test needs.
    page.wait_for_url(f"**/studies/{sid}/trials/*", timeout=30_000, wait_until="commit")
    number = int(page.url.rsplit("/", 1)[1])
    drawn(page, ["chart-metrics"])
    # Every metric has its panel; previous / next trial links.
    titles = page.locator("#chart-metrics .annotation-text").evaluate_all("els => els.map(e => e.textContent)")
    assert {"loss", "val_accuracy"} <= set(titles)
    page.click("#prev-trial")
    page.wait_for_url(f"**/trials/{number - 1}", wait_until="commit")
    drawn(page, ["chart-metrics"])
    assert page.problems == []


def test_compare_studies_draws_one_panel_per_metric_and_says_they_differ(site, page):
    a, b = site.ids["done-study"], site.ids["loss-study"]
    page.goto(f"{site.url}/compare?ids={a},{b}")
    drawn(page, ["chart-compare"])
    note = page.locator("#metrics-differ").inner_text()
    assert "val_accuracy" in note and "val_loss" in note
    axes = page.evaluate("Object.keys(document.getElementById('chart-compare')._fullLayout)"
                         ".filter(k => /^yaxis\\d*$/.test(k)).length")
    assert axes == 2
    titles = page.locator("#chart-compare .ytitle, #chart-compare .y2title").evaluate_all("els => els.map(e => e.textContent)")
    assert sorted(titles) == ["val_accuracy", "val_loss"]
    page.goto(f"{site.url}/compare?ids={a},{a}")  # one study (metric): one panel, no note
    assert page.locator("#metrics-differ").count() == 0


def test_errors_keep_what_the_user_typed_and_show_the_message_in_place(site, page):
    import yaml

    from tests.helpers import quad_spec

    sid = site.ids["done-study"]
    # A bad filter value: the study page with the message beside the form, the value kept.
    page.goto(f"{site.url}/studies/{sid}?param.lr.min=abc")
    assert page.locator("h1").inner_text() == "done-study"
    assert "param.lr.min" in page.locator("#filter-problem").inner_text()
    assert page.input_value("input[name='param.lr.min']") == "abc"
    assert page.locator("#trials-table tr[data-trial]").count() == 8
    # A page past the end: the last page.
    page.goto(f"{site.url}/studies/{sid}?per_page=5&page=99")
    assert "page 2 of 2" in page.locator("#trials-count").inner_text()
    assert page.locator("#trials-table tr[data-trial]").count() == 3
    # A taken name on submit: the edited spec stays in the editor, the message beside it.
    page.goto(f"{site.url}/submit")
    text = "# my edits\n" + yaml.safe_dump(quad_spec("done-study"))
    page.fill("textarea[name=spec]", text)
    page.click("text=Validate and queue")
    page.wait_for_selector("#problems li[data-field=name]", timeout=30_000)
    assert "already exists" in page.locator("#problems").inner_text()
    assert page.input_value("textarea[name=spec]") == text
    screenshot(page, ARTIFACTS / "ui-submit-conflict.png")
    assert page.problems == []


def test_queued_study_without_a_dispatcher_says_how_to_start_one(site, page):
    from hpsearch.dispatcher import Dispatcher

    sid = site.ids["queued"]
    page.goto(f"{site.url}/studies/{sid}")
    hint = page.locator("#no-dispatcher")
    assert hint.is_visible() and "hpsearch dispatcher" in hint.inner_text()
    screenshot(page, ARTIFACTS / "ui-queued.png")
    # A real dispatcher's heartbeat (it claims nothing: no step) clears the hint live.
    store = Store(site.store.url)
    dispatcher = Dispatcher(store, max_studies=0)
    dispatcher.heartbeat()
    try:
        page.wait_for_selector("#no-dispatcher", state="hidden", timeout=5000)
    finally:
        dispatcher.shutdown()
        store.dispose()
    page.wait_for_selector("#no-dispatcher", state="visible", timeout=5000)
    assert page.problems == []


def test_phone_width_layout_and_keyboard_order(site, browser):
    ctx = browser.new_context(viewport={"width": 400, "height": 800}, is_mobile=True,
                              device_scale_factor=2, has_touch=True)
    page = ctx.new_page()
    try:
        sid = site.ids["done-study"]
        for path, shot in [(f"/studies/{sid}", "ui-phone-study"), ("/", "ui-phone-studies")]:
            page.goto(site.url + path)
            if "studies/" in path:  # charts scale to the phone's width (the first ones suffice)
                drawn(page, ["chart-history", "chart-curves"])
            # Laid out at the phone's width: nothing makes the page itself scroll sideways.
            assert page.evaluate("window.innerWidth") == 400
            assert page.evaluate("document.documentElement.scrollWidth") <= 400, path
            # The header's parts do not overlap one another.
            boxes = [page.locator(sel).first.bounding_box()
                     for sel in ["header nav a >> nth=0", "header nav a >> nth=-1", "header .who"]]
            nav_last, who = boxes[1], boxes[2]
            overlap = not (who["y"] >= nav_last["y"] + nav_last["height"] or
                           who["x"] >= nav_last["x"] + nav_last["width"] or
                           nav_last["x"] >= who["x"] + who["width"])
            assert not overlap, (nav_last, who)
            screenshot(page, ARTIFACTS / f"{shot}.png")
        # Tables scroll on their own.
        page.goto(f"{site.url}/studies/{sid}")
        wrap = page.locator("#trials-table").locator("xpath=..")
        assert wrap.evaluate("e => getComputedStyle(e).overflowX") == "auto"
        assert wrap.evaluate("e => e.scrollWidth > e.clientWidth")
    finally:
        ctx.close()


def test_keyboard_reaches_the_filters_before_any_chart_toolbar(site, page):
    sid = site.ids["done-study"]
    if True:
        page.goto(f"{site.url}/studies/{sid}")
        drawn(page, [f"chart-{n}" for n in STUDY_CHARTS])
        for n in range(60):
            page.keyboard.press("Tab")
            where = page.evaluate("(() => { const e = document.activeElement;"
                                  " return e.closest('#trial-filters') ? 'filters' :"
                                  " e.closest('.modebar') ? 'toolbar' : e.tagName })()")
            assert where != "toolbar", f"a chart toolbar button is focused at Tab {n + 1}"
            if where == "filters":
                break
        else:
            pytest.fail("60 Tabs never reached the trial filters")
        assert n < 30


def test_a_study_waiting_for_a_node_says_what_for_and_clears_live(site, page):
    """A running study on a cluster whose trials fit no node: its page says what they wait
    for (the driver's NodeWatch writes it; written directly here), the studies list marks
    it, and the note goes once a node that fits joined (the page's poll), without a reload."""
    from hpsearch.pool import waiting_text

    store = site.store
    sid = store.create_study(make_spec("waiting-study"), status=StudyStatus.RUNNING).id
    text = waiting_text([("resources.gpu", "1 per trial, but no node of this Ray has that "
                                           "much GPU (the most: 0)")])
    store.set_waiting(sid, text)
    try:
        page.goto(f"{site.url}/studies/{sid}")
        note = page.locator("#waiting")
        assert note.is_visible(), page.content()[:2000]
        assert "resources.gpu: 1 per trial" in note.inner_text()
        screenshot(page, ARTIFACTS / "ui-waiting-for-a-node.png")
        page.goto(f"{site.url}/?q=waiting-study")
        cell = page.locator("td.status-RUNNING").first
        assert "(waiting for a node)" in cell.inner_text()
        assert "resources.gpu" in cell.get_attribute("title")
        page.goto(f"{site.url}/studies/{sid}")
        page.wait_for_selector("#waiting", state="visible", timeout=5000)
        store.set_waiting(sid, None)  # a node that fits has joined
        page.wait_for_selector("#waiting", state="hidden", timeout=5000)
        assert page.locator("b[data-field=status]").inner_text() == "RUNNING"
    finally:
        store.set_study_status(sid, StudyStatus.CANCELLED)
    assert page.problems == []
