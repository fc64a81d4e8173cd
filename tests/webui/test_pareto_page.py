"""A study with several objectives in a real browser: the Pareto front and hypervolume charts
draw on its page, infeasible trials are marked, a click on a front point opens that trial;
the JSON API serves the same charts."""
from __future__ import annotations

import time

import pytest

from hpsearch.store import StudyStatus, TrialStatus
from tests.webui.conftest import make_spec
from tests.webui.test_browser import CHROMIUM, chromium_page, live_url  # noqa: F401 - fixture


@pytest.fixture
def mo_study(store, filled) -> int:
    spec = make_spec("mo-study",  # metric/mode: the first objective, as validate sets them
                     objectives=[{"metric": "val_accuracy", "mode": "max"},
                                 {"metric": "model_kb", "mode": "min"}],
                     constraints=["latency_ms <= 1"])
    sid = store.create_study(spec, status=StudyStatus.RUNNING).id
    t = time.time()
    points = [(0.90, 50.0, 0.5), (0.80, 10.0, 0.5), (0.99, 5.0, 9.0), (0.70, 60.0, 0.5)]
    ops: list[tuple] = []
    for i, (acc, kb, ms) in enumerate(points):
        values = {"val_accuracy": acc, "model_kb": kb, "latency_ms": ms}
        ops += [("trial", sid, f"m{i}", i, {"lr": 0.01, "dropout": 0.1 * i, "optimizer": "adam"},
                 TrialStatus.RUNNING, t),
                ("result", sid, f"m{i}", 1, acc, values, t),
                ("status", sid, f"m{i}", TrialStatus.COMPLETED, {"value": acc, "values": values}, t)]
    store.apply(ops)
    store.set_study_status(sid, StudyStatus.COMPLETED)
    return sid


def test_api_serves_front_and_hypervolume(client, mo_study):
    fig = client.get(f"/api/v1/studies/{mo_study}/plots/pareto").get_json()
    front = next(t for t in fig["data"] if t["name"] == "Pareto front")
    infeasible = next(t for t in fig["data"] if t["name"].startswith("infeasible"))
    assert sorted(_array(front["customdata"])) == [0, 1] and _array(infeasible["customdata"]) == [2]
    hv = client.get(f"/api/v1/studies/{mo_study}/plots/hypervolume").get_json()
    # reference computed: acc 0.7 - 10 % of 0.2, kb 60 + 10 % of 50; two boxes by hand
    assert _array(hv["data"][0]["y"])[-1] == pytest.approx(0.22 * 15 + 0.12 * 40)


def _array(v) -> list:
    """A plotly JSON array: a list, or numpy's typed array as {dtype, bdata (base64)}."""
    if isinstance(v, dict):
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
def test_front_point_click_opens_its_trial(live_url, mo_study):  # noqa: F811
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with chromium_page() as (page, errors):
        page.goto(f"{live_url}/studies/{mo_study}")
        page.wait_for_selector("#chart-pareto .main-svg", timeout=20000)
        page.wait_for_selector("#chart-hypervolume .main-svg", timeout=20000)
        # the front trace is drawn last: its first point is trial 0 or 1
        point = page.locator("#chart-pareto .scatterlayer .trace").last.locator(".point").first
        # Under load the page may still lay out (other charts drawing) between reading the
        # point's box and the click: a click that opened nothing is tried again where the
        # point is then.
        for attempt in range(5):
            point.scroll_into_view_if_needed()
            box = point.bounding_box()  # plotly listens on its drag layer, not on the marker
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            try:
                page.wait_for_url(f"**/studies/{mo_study}/trials/*", timeout=5000,
                                  wait_until="commit")
                break
            except PlaywrightTimeout:
                assert attempt < 4, "a click on a front point never opened its trial"
        assert int(page.url.rsplit("/", 1)[1]) in (0, 1)  # a front trial
        assert errors == []
