"""Trial logs and media in a real Chromium: a trial printing slowly is followed live on its
page, and (tests/outputs/test_media.py) the media panel and the compare view draw.

Screenshots go to test-artifacts/ (gitignored).
"""
from __future__ import annotations

import threading
import time

import pytest

from hpsearch.orchestration import run_study
from hpsearch.store import TrialStatus
from tests.live_server import LiveServer
from tests.outputs.conftest import spec, web_app
from tests.webui.test_browser import ARTIFACTS, CHROMIUM, chromium_page

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")


def serve(url: str):
    server = LiveServer(web_app(url))
    return server, server.url


def browse(fn):
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium_page(width=1300, console_errors=True) as (page, errors):
        fn(page)
        assert not errors, errors


def test_a_slowly_printing_trial_is_followed_live_in_the_browser(ray_session, outputs_env):
    store = outputs_env.store
    release = outputs_env.tmp / "release-slow-printer"
    done: dict = {}
    runner = threading.Thread(target=lambda: done.setdefault("row", run_study(
        spec("slow-printer", "tests.outputs.trainables:slow_printer", lines=4, every_s=0.3,
             release=str(release)),
        store=store, progress=False)), daemon=True)
    runner.start()
    study_id = trial = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the trial runs
        try:
            study_id = store.get_study("slow-printer").id
            trial = store.get_trial(study_id, 0)
            if trial.status == TrialStatus.RUNNING:
                break
        except Exception:  # noqa: BLE001 - not created yet
            pass
        time.sleep(0.2)
    assert trial is not None and trial.status == TrialStatus.RUNNING
    server, base = serve(outputs_env.url)
    polls: list[str] = []

    def check(page):
        page.on("request", lambda r: "/log?after=" in r.url and polls.append(r.url))
        page.goto(f"{base}/studies/{study_id}/trials/0")
        page.wait_for_selector("#log:has-text('tick 2')", timeout=30000)
        seen = page.inner_text("#log")
        # The trial still prints (it ends only once released): later ticks arrive live.
        last = max(int(ln.split()[1]) for ln in seen.splitlines() if ln.startswith("tick"))
        page.wait_for_selector(f"#log:has-text('tick {last + 3}')", timeout=30000)
        assert store.get_trial(study_id, 0).status == TrialStatus.RUNNING
        page.screenshot(path=str(ARTIFACTS / "trial-log-live.png"), full_page=True)
        release.touch()
        page.wait_for_selector("#log:has-text('released')", timeout=60000)
        page.wait_for_selector("#log-state:has-text('finished')", timeout=30000)
        ticks = [ln for ln in page.inner_text("#log").splitlines() if ln.startswith("tick")]
        assert ticks == [f"tick {i}" for i in range(len(ticks))]  # each line once, in order
        page.screenshot(path=str(ARTIFACTS / "trial-log-finished.png"), full_page=True)

    try:
        browse(check)
    finally:
        release.touch()
        server.stop()
        runner.join(120)
    # Incremental: the page asked only for what followed what it had.
    assert any(not u.endswith("after=0") for u in polls) and len(polls) >= 3
    assert done["row"].status == "COMPLETED"
