"""The whole loop in a real browser: submit a spec through the form, a dispatcher
runs it on Ray, the study page follows it live to COMPLETED, compare renders."""
from __future__ import annotations

import threading

import pytest
import yaml

from tests.helpers import quad_spec
from tests.live_server import LiveServer
from tests.webui.test_browser import ARTIFACTS, CHROMIUM
from tests.webui.shots import screenshot

pytestmark = [pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium"),
              pytest.mark.slow, pytest.mark.browser]


def test_submit_follow_and_compare(home, sqlite_url, monkeypatch):
    sync_api = pytest.importorskip("playwright.sync_api")
    from hpsearch.dispatcher import Dispatcher
    from hpsearch.store import Store
    from webui import create_app

    monkeypatch.setenv("HPSEARCH_ALLOWED_MODULES", "tests.helpers")  # the admin allow-list
    app = create_app({"TESTING": True, "DATABASE_URL": sqlite_url})
    server = LiveServer(app)
    url = server.url
    stop = threading.Event()
    dispatcher = Dispatcher(Store(sqlite_url), max_studies=2)

    def dispatch():
        while not stop.is_set():
            dispatcher.step()
            stop.wait(0.5)

    worker = threading.Thread(target=dispatch, daemon=True)
    worker.start()
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            ids = []
            for name in ("browser-a", "browser-b"):
                page.goto(url + "/submit")
                spec = quad_spec(name, budget={"trials": 3, "max_concurrent": 1})
                page.fill("textarea[name=spec]", yaml.safe_dump(spec))
                page.click("text=Validate and queue")
                page.wait_for_url("**/studies/*")
                ids.append(page.url.rstrip("/").rsplit("/", 1)[-1])
            # The page polls the API and flips to COMPLETED without a reload.
            page.wait_for_selector("[data-field=status]:has-text('COMPLETED')", timeout=180_000)
            # ... and reloads once finished: the page says why the study ended.
            page.wait_for_selector("#end-reason:has-text('all 3 trials of its budget ran')",
                                   timeout=30_000)
            screenshot(page, ARTIFACTS / "submitted.png")
            page.goto(f"{url}/compare?ids={','.join(ids)}")
            page.wait_for_selector(".main-svg", timeout=15_000)
            screenshot(page, ARTIFACTS / "compare.png")
            assert page.locator(".main-svg").count() >= 1
            assert errors == []
            browser.close()
    finally:
        stop.set()
        worker.join(30)
        server.stop()
    store = Store(sqlite_url)
    for sid in ids:
        assert store.get_study(int(sid)).status == "COMPLETED"
