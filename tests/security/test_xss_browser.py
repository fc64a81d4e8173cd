"""XSS in a real browser: HTML in study names, params and errors is shown as text, never run."""
from __future__ import annotations

import time

import pytest

from hpsearch.store import StudyStatus, TrialStatus
from tests.live_server import LiveServer
from tests.security.conftest import PASSWORD
from tests.webui.conftest import make_spec
from tests.webui.test_browser import ARTIFACTS, CHROMIUM

XSS = "<img src=x onerror=alert(1)>"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")


def _studies(store) -> list[int]:
    space = {XSS: {"uniform": [0.0, 1.0]}, "opt": {"choice": ["<script>alert(2)</script>", "b"]}}
    ids = []
    for name in (XSS, f"b {XSS}"):
        row = store.create_study(make_spec(name, space=space, description=XSS),
                                 status=StudyStatus.RUNNING)
        t = time.time()
        ops = []
        for i in range(3):
            rid = f"r{i}"
            params = {XSS: 0.2 * i, "opt": ["<script>alert(2)</script>", "b"][i % 2]}
            ops.append(("trial", row.id, rid, i, params, TrialStatus.RUNNING, t))
            ops.append(("result", row.id, rid, 1, 0.5 + i / 10, {"val_accuracy": 0.5 + i / 10,
                                                                 XSS: 1.0}, t))
            ops.append(("status", row.id, rid, TrialStatus.ERROR if i == 2 else TrialStatus.COMPLETED,
                        {"error": f"Traceback {XSS}"} if i == 2 else {"value": 0.5 + i / 10}, t))
        store.apply(ops)
        store.set_study_status(row.id, StudyStatus.COMPLETED)
        ids.append(row.id)
    return ids


def test_html_in_user_strings_raises_no_dialog(sec_app, sec_store, accounts):
    """Logged in through the real form (login, CSRF and CSP in a real browser), then every
    page that shows the strings."""
    sync_api = pytest.importorskip("playwright.sync_api")
    ids = _studies(sec_store)
    accounts.add_user("ada", PASSWORD)
    server = LiveServer(sec_app)
    url = server.url
    dialogs: list[str] = []
    csp_violations: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(60000)  # a loaded 2-core machine: patience, not timing
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                page.on("console", lambda m: csp_violations.append(m.text)
                        if "Content Security Policy" in m.text else None)
                page.goto(url + f"/studies/{ids[0]}")  # sent to the login form
                page.fill("input[name=username]", "ada")
                page.fill("input[name=password]", PASSWORD)
                page.click("text=Log in >> nth=-1")
                page.wait_for_selector("text=ada (admin)")
                assert page.url.endswith(f"/studies/{ids[0]}")
                for path in ["/", f"/studies/{ids[0]}", f"/studies/{ids[0]}/trials/2",
                             f"/compare?ids={ids[0]},{ids[1]}"]:
                    page.goto(url + path)
                    page.wait_for_load_state("networkidle")
                    if path != "/":
                        page.wait_for_selector(".main-svg")  # charts drew the strings too
                    assert XSS in page.inner_text("main"), path  # shown, as text
                    assert page.locator("main img").count() == 0, path
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "xss-compare.png"), full_page=True)
            finally:
                browser.close()
    finally:
        server.stop()
    assert dialogs == []
    assert csp_violations == []  # nothing even tried to run inline
