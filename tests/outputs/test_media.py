"""Media from a custom trainable (hpsearch.log_image with an array and a matplotlib figure,
hpsearch.log_figure with plotly): recorded from real trials, re-encoded by the service,
capped per trial, served with safe types to the roles that read the study, returned by
the Python API, deleted with their study."""
from __future__ import annotations

import io
import json
import zlib
from types import SimpleNamespace

import pytest

from hpsearch import media as media_files
from hpsearch.api import Study
from hpsearch.media_client import pack_image
from hpsearch.orchestration import run_study
from hpsearch.store.outputs import trial_log, trial_media
from tests.outputs.conftest import spec, web_app
from tests.outputs.test_browser_outputs import ARTIFACTS, CHROMIUM, browse, serve

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def drawn(ray_session, outputs_env):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPSEARCH_MEDIA_MAX_ITEMS", "5")  # the trial records 6: the last is refused
        row = run_study(spec("drawing", "tests.outputs.trainables:drawing", trials=2),
                        store=outputs_env.store, progress=False)
    return SimpleNamespace(env=outputs_env, store=outputs_env.store, study=row)


def test_media_are_recorded_reencoded_and_capped(drawn):
    st = drawn.store
    for trial in st.trials(drawn.study.id):
        rows = trial_media(st, trial.id)
        got = {(m.name, m.step) for m in rows}
        # 6 sent in this order: gradient 1, matplotlib 1, curve 1, gradient 2, matplotlib 2, curve 2
        assert got == {("gradient", 1), ("matplotlib", 1), ("curve", 1), ("gradient", 2),
                       ("matplotlib", 2)}
        assert "media limit reached (5 items" in trial_log(st, trial.id).text()
        for m in rows:
            data = media_files.resolve(m.path).read_bytes()
            assert m.bytes == len(data)
            if m.kind == "image":
                assert data.startswith(PNG_MAGIC)
                from PIL import Image

                with Image.open(io.BytesIO(data)) as im:
                    assert im.size == (m.width, m.height)
                if m.name == "gradient":
                    assert (m.width, m.height) == (48, 32)
            else:
                assert json.loads(data)["data"][0]["type"] == "scatter"


def test_python_api_returns_arrays_and_figures(drawn):
    trial = Study(drawn.store, drawn.study.id).trial(0)
    items = trial.media()
    grads = [m for m in items if m["name"] == "gradient"]
    assert [m["step"] for m in grads] == [1, 2]
    img = grads[0]["value"]
    assert img.shape == (32, 48, 3) and img.dtype.name == "uint8"
    x = trial.params["x"]
    assert abs(img[-1, -1, 1] / 255 - x) < 0.01  # green is grad * x: x where grad is 1
    curve = trial.media("curve")[0]["value"]
    assert list(curve.data[0].y) == pytest.approx([1, 1, x])


def test_media_api_serves_safe_types(drawn):
    client = web_app(drawn.env.url).test_client()
    base = f"/api/v1/studies/{drawn.study.id}/trials/0/media"
    d = client.get(base).json
    assert d["steps"] == [1, 2] and len(d["media"]) == 5
    for m in d["media"]:
        r = client.get(m["url"])
        assert r.status_code == 200
        assert r.mimetype == ("image/png" if m["kind"] == "image" else "application/json")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in r.headers["Content-Security-Policy"]
        assert r.headers["Content-Disposition"].startswith("inline")
    cmp = client.get(f"/api/v1/studies/{drawn.study.id}/compare/media?trials=0,1").json
    assert {m["trial"] for m in cmp["media"]} == {0, 1} and "gradient" in cmp["names"]
    assert client.get(f"{base}/999999").status_code == 404
    assert client.get(f"/api/v1/studies/{drawn.study.id}/trials/1/media/"
                      f"{d['media'][0]['id']}").status_code == 404  # another trial's item


def test_media_are_read_by_the_roles_that_read_the_study(drawn):
    from hpsearch.accounts import Accounts

    accounts = Accounts(drawn.store)
    if accounts.count_users() == 0:
        accounts.add_user("ada-media", "correct horse battery staple", role="admin")
    accounts.add_user("vic-media", "correct horse battery staple", role="viewer")
    _, token = accounts.create_token("vic-media", "t")
    client = web_app(drawn.env.url, AUTH=True, SECRET_KEY="k" * 48).test_client()
    base = f"/api/v1/studies/{drawn.study.id}/trials/0/media"
    assert client.get(base).status_code == 401
    listing = client.get(base, headers={"Authorization": f"Bearer {token}"})
    assert listing.status_code == 200
    url = listing.json["media"][0]["url"]
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_what_a_trial_sends_is_checked_and_never_stored_as_sent(outputs_env, monkeypatch):
    monkeypatch.setenv("HPSEARCH_HOME", str(outputs_env.home))
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4, 5\)"):
        pack_image([[[[0] * 5] * 4] * 3] * 2)
    bad = [
        {"kind": "image", "png": b"<html><script>alert(1)</script></html>"},  # not an image
        {"kind": "image", "shape": [4, 4, 3], "data": zlib.compress(b"\0" * 47)},  # short data
        {"kind": "image", "shape": [100000, 100000], "data": zlib.compress(b"\0" * 10)},
        {"kind": "plotly", "json": json.dumps({"data": [{"type": "scatter", "onclick": "x"}]})},
        {"kind": "html", "json": "<b>"},
    ]
    for item in bad:
        with pytest.raises(Exception):
            media_files.save(9999, "r0", {**item, "name": "bad", "step": 1})
    assert not (media_files.media_root() / "study-9999").exists() or \
        not any((media_files.media_root() / "study-9999").rglob("*.*"))
    # A PNG whose header claims 20,000 x 20,000 pixels is refused before it is decoded.
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (20000, 20000)).save(buf, format="PNG")
    with pytest.raises(Exception, match="exceeds|decompression|pixels"):
        media_files.save(9999, "r0", {"kind": "image", "png": buf.getvalue(), "name": "bomb",
                                      "step": 1})


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
def test_media_panel_and_compare_in_the_browser(drawn):
    server, base = serve(drawn.env.url)
    sid = drawn.study.id

    def check(page):
        page.goto(f"{base}/studies/{sid}/trials/0")
        # Three names at the last step (2): two images and a plotly figure drawn as SVG.
        page.wait_for_selector("#media-items .media-item[data-name='gradient'] img", timeout=20000)
        page.wait_for_selector("#media-items .plotly-media .main-svg", timeout=20000)
        assert page.inner_text("#media-step-value") == "2"
        shown = page.eval_on_selector_all("#media-items .media-item",
                                          "els => els.map(e => e.dataset.name + '@' + e.dataset.step)")
        # curve@2 was past the trial's limit: the panel shows its step-1 figure instead
        assert sorted(shown) == ["curve@1", "gradient@2", "matplotlib@2"]
        assert page.eval_on_selector("#media-items img", "i => i.complete && i.naturalWidth") == 48
        page.screenshot(path=str(ARTIFACTS / "trial-media.png"), full_page=True)
        page.fill("#media-step", "0")
        page.dispatch_event("#media-step", "input")
        page.wait_for_selector("#media-step-value:text-is('1')")
        shown = page.eval_on_selector_all("#media-items .media-item", "els => els.map(e => e.dataset.step)")
        assert shown == ["1", "1", "1"]
        page.goto(f"{base}/studies/{sid}/compare?trials=0&trials=1")
        page.wait_for_selector("#compare-media-table img", timeout=20000)
        page.wait_for_selector("#compare-media-table .plotly-media .main-svg", timeout=20000)
        rows = page.eval_on_selector_all("#compare-media-table tr", "rs => rs.length")
        assert rows == 1 + 3  # header + gradient, matplotlib, curve
        steps = page.eval_on_selector_all("#compare-media-table .media-item[data-name='gradient']",
                                          "els => els.map(e => e.dataset.step)")
        assert steps == ["2", "2"]  # both trials at the same step
        page.screenshot(path=str(ARTIFACTS / "compare-media.png"), full_page=True)

    try:
        browse(check)
    finally:
        server.stop()


def test_media_are_deleted_with_their_study(drawn):
    st = drawn.store
    folder = media_files.media_root() / f"study-{drawn.study.id}"
    files = list(folder.rglob("*.png"))
    assert files
    trial_ids = [t.id for t in st.trials(drawn.study.id)]
    st.delete_study(drawn.study.id)
    assert not folder.exists() and not any(f.exists() for f in files)
    assert all(trial_media(st, tid) == [] for tid in trial_ids)


def test_rnn_forecasting_records_forecast_against_truth(ray_session, outputs_env):
    from tests.trainables.test_families_submit import check_family_media

    row = run_study({"name": "rnn-sine-media", "trainable": "rnn", "dataset": "sine",
                     "metric": "val_loss", "mode": "min",
                     "space": {"hidden_size": {"int": [8, 16]}}, "budget": {"trials": 1},
                     "fixed": {"epochs": 2, "train_samples": 128}},
                    store=outputs_env.store, progress=False)
    trial = outputs_env.store.get_trial(row.id, 0)
    check_family_media(outputs_env.store, trial, {"forecast"}, steps={1, 2})
    fig = Study(outputs_env.store, row.id).trial(0).media("forecast")[-1]["value"]
    names = {t.name for t in fig.data}
    assert names == {"history", "truth", "forecast"} and len(fig.data) == 12  # 4 windows
