"""A real browser against the app under waitress: pages load and plotly draws SVG.

Skipped where Debian's chromium is not installed (``apt-get install -y chromium``).
Screenshots go to test-artifacts/ (gitignored).
"""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_url(app, filled):
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=_free_port(), threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


def test_studies_and_study_pages_render_charts(live_url, filled):
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(live_url + "/")
            page.click("text=done-study")
            page.wait_for_selector("#chart-history .main-svg", timeout=15000)
            assert page.locator(".main-svg").count() >= 6
            page.screenshot(path=str(ARTIFACTS / "study.png"), full_page=True)
            page.goto(f"{live_url}/studies/{filled['done']}/trials/0")
            page.wait_for_selector("#chart-metrics .main-svg", timeout=15000)
            page.screenshot(path=str(ARTIFACTS / "trial.png"))
            assert errors == []
        finally:
            browser.close()
