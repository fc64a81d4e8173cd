"""HTML pages: each renders, escapes user data, validates the form, cancels."""
from __future__ import annotations

from hpsearch.store import StudyStatus
from tests.webui.conftest import fill, make_spec

XSS = "<img src=x onerror=alert(1)>"


def test_studies_page(client, filled):
    html = client.get("/").get_data(as_text=True)
    assert "done-study" in html and "empty-study" in html
    assert client.get("/?status=COMPLETED&sort=-name&q=done").status_code == 200
    assert client.get("/?page=-1").status_code == 400
    assert "<th>owner</th>" in html and "<th>duration</th>" in html
    assert 'name="ids"' in html  # checkboxes submit ?ids=1&ids=2 to the compare page
    assert 'title="all 6 trials of its budget ran">COMPLETED</td>' in html  # why it ended


def test_compare_from_checkboxes(client, filled):
    html = client.get(f"/compare?ids={filled['done']}&ids={filled['empty']}").get_data(as_text=True)
    assert "done-study" in html and "empty-study" in html
    body = client.get(f"/api/v1/studies/{filled['done']}").json
    assert body["duration_s"] is not None and body["duration_s"] >= 0


def test_study_page(client, filled):
    r = client.get(f"/studies/{filled['done']}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "trials-table" in html
    # Charts are fetched by the browser from the (cached) plots API, one per chart.
    for name in ["history", "curves", "parallel", "importance", "slice"]:
        assert f'data-src="/api/v1/studies/{filled["done"]}/plots/{name}"' in html
    # The contour's URL names the pair the picker starts on, so the page preloads it too.
    src = f'/api/v1/studies/{filled["done"]}/plots/contour?x=lr&amp;y=dropout'
    assert f'data-src="{src}"' in html and f'<link rel="preload" as="fetch" href="{src}" fetchpriority="low"' in html
    assert 'id="contour-x"' in html and 'name="param.lr.min"' in html and 'name="param.optimizer"' in html
    assert "data-poll-url" not in html  # finished: no polling
    assert '<span id="end-reason">all 6 trials of its budget ran</span>' in html
    assert client.get(f"/studies/{filled['done']}?status=ERROR&sort=-value&page=1").status_code == 200
    assert client.get(f"/studies/{filled['done']}?per_page=0").status_code == 400
    assert "data-poll-url" in client.get(f"/studies/{filled['empty']}").get_data(as_text=True)
    assert client.get("/studies/999").status_code == 404


def test_study_page_embeds_the_figures_ready(client, filled, app):
    """Figures built before (stored for a finished study, or cached in this process) are in
    the page itself, drawn without a request; the others are fetched, and preloaded."""
    import json
    import re

    sid = filled["done"]
    first = client.get(f"/studies/{sid}").get_data(as_text=True)
    assert 'data-plot="chart-history"' not in first  # never built: fetched
    assert f'<link rel="preload" as="fetch" href="/api/v1/studies/{sid}/plots/history"' in first
    built = {name: client.get(f"/api/v1/studies/{sid}/plots/{name}").json for name in ("history", "timeline")}
    pair = client.get(f"/api/v1/studies/{sid}/plots/contour?x=lr&y=dropout").json
    app.extensions["hpsearch_charts"]._items.clear()  # a fresh process: only SQL holds them
    html = client.get(f"/studies/{sid}").get_data(as_text=True)
    for name, fig in [*built.items(), ("contour", pair)]:
        m = re.search(rf'<script type="application/json" data-plot="chart-{name}">(.*?)</script>', html, re.S)
        assert m and json.loads(m.group(1)) == fig, name
        assert f'rel="preload" as="fetch" href="/api/v1/studies/{sid}/plots/{name}' not in html
        assert f'data-src="/api/v1/studies/{sid}/plots/{name}' in html  # re-fetched when it moves
    assert f'rel="preload" as="fetch" href="/api/v1/studies/{sid}/plots/slice"' in html


def test_trial_page(client, filled):
    html = client.get(f"/studies/{filled['done']}/trials/5").get_data(as_text=True)
    assert "ERROR" in html and "&lt;b&gt;boom&lt;/b&gt;" in html and "<b>boom</b>" not in html
    assert client.get(f"/studies/{filled['done']}/trials/77").status_code == 404


def test_compare_page(client, filled):
    html = client.get(f"/compare?ids={filled['done']},{filled['empty']}").get_data(as_text=True)
    assert "params-diff" in html and "done-study" in html
    assert "time to best" in html and "trials to best" in html and "budget (trials)" in html
    for bad in ["", "?ids=", "?ids=a,b", "?ids=" + ",".join(map(str, range(1, 20)))]:
        assert client.get("/compare" + bad).status_code == 400
    assert client.get("/compare?ids=999").status_code == 404


def test_name_is_escaped_everywhere(client, store):
    sid = store.create_study(make_spec(XSS), status=StudyStatus.RUNNING).id
    fill(store, sid, n=3)
    assert client.get(f"/api/v1/studies/{sid}/plots/history").json["layout"]["title"]["text"].endswith(XSS)
    # The study page embeds that cached figure, escaped.
    assert 'data-plot="chart-history"' in client.get(f"/studies/{sid}").get_data(as_text=True)
    for url in ["/", f"/studies/{sid}", f"/studies/{sid}/trials/0", f"/compare?ids={sid}",
                f"/studies/{sid}/compare?trials=0,1"]:
        html = client.get(url).get_data(as_text=True)
        assert XSS not in html, url
        assert "&lt;img src=x onerror=alert(1)&gt;" in html or "\\u003cimg" in html, url


def test_submit_form(client):
    html = client.get("/submit").get_data(as_text=True)
    assert "quickstart" in html
    assert "quickstart-cnn" in client.get("/submit?template=quickstart").get_data(as_text=True)
    r = client.post("/submit", data={"spec": "name: x\ntrainable: cnn\nbudget: {trials: 0}\nspace: {}\n"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "budget.trials" in html and "name: x" in html
    r = client.post("/submit", data={"spec": XSS})
    assert r.status_code == 422 and XSS not in r.get_data(as_text=True)
    spec = ("name: form-study\ntrainable: cnn\ndataset: digits\nmetric: val_accuracy\nmode: max\n"
            "space: {lr: {loguniform: [1.0e-4, 1.0e-1]}}\nbudget: {trials: 2}\n")
    r = client.post("/submit", data={"spec": spec})
    assert r.status_code == 303
    assert "form-study" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_cancel_button(client, filled):
    r = client.post(f"/studies/{filled['empty']}/cancel")
    assert r.status_code == 303
    assert "CANCELLED" in client.get(f"/studies/{filled['empty']}").get_data(as_text=True)


def test_plotly_is_served_locally(client):
    r = client.get("/vendor/plotly.min.js")
    assert r.status_code == 200 and b"plotly" in r.data[:200]
    r.close()
    html = client.get("/").get_data(as_text=True)
    assert "cdn" not in html.lower()


def test_serve_refuses_remote_host(capsys):
    from webui.serve import is_loopback, serve

    assert serve(None, "0.0.0.0", 8080) == 2 and "refusing" in capsys.readouterr().err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("10.0.0.1")


def test_no_heavy_imports():
    import subprocess
    import sys

    code = ("import sys, webui, webui.api, webui.pages, hpsearch.plots; "
            "print([m for m in ('ray','torch','skopt','deap') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_submit_upload_and_located_problems(client):
    import io

    spec = ("name: uploaded\ntrainable: cnn\ndataset: digits\nmetric: val_accuracy\nmode: max\n"
            "space: {lr: {loguniform: [1.0e-4, 1.0e-1]}}\nbudget: {trials: 2}\n")
    r = client.post("/submit", data={"spec": "", "spec_file": (io.BytesIO(spec.encode()), "s.yaml")},
                    content_type="multipart/form-data")
    assert r.status_code == 303
    assert "uploaded" in client.get(r.headers["Location"]).get_data(as_text=True)
    # An uploaded file wins over the text box; its problems point at its lines.
    bad = "name: x\ntrainable: cnn\nspace: {lr: {uniform: [1, 0]}}\nbudget:\n  trials: 0\n"
    r = client.post("/submit", data={"spec": "ignored", "spec_file": (io.BytesIO(bad.encode()), "b.yml")},
                    content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "trials: 0" in html and ">ignored<" not in html
    assert 'data-line="5"' in html and 'data-field="budget.trials"' in html
    r = client.post("/submit", data={"spec_file": (io.BytesIO(b"\xff\xfe\x00bad"), "x.yaml")},
                    content_type="multipart/form-data")
    assert r.status_code == 422 and "spec_file" in r.get_data(as_text=True)
    r = client.post("/submit", data={"spec": "name: [unclosed\nx: 1\n"})
    assert r.status_code == 422 and "data-line=" in r.get_data(as_text=True)


def test_bad_input_is_a_4xx_page(client, filled):
    """Unknown things are an error page; a bad argument to a list is said in place (the list
    drawn as if it were not given, a 400 all the same)."""
    sid = filled["done"]
    for url in ["/studies/99999999999999999999", f"/studies/{sid}/trials/99999999999", "/nowhere"]:
        r = client.get(url)
        assert r.status_code == 404 and "<h1>Error" in r.get_data(as_text=True), url
    for url, named in [(f"/studies/{sid}?page=x", "page"), (f"/studies/{sid}?page=0", "page"),
                       (f"/studies/{sid}?sort=bogus", "sort"), (f"/studies/{sid}?status=NOPE", "status"),
                       ("/?sort=bogus", "sort"), ("/?per_page=9999", "per_page")]:
        r = client.get(url)
        html = r.get_data(as_text=True)
        assert r.status_code == 400 and "<h1>Error" not in html, url
        assert 'class="problems"' in html and named in html, url
        assert ("trials-table" if "/studies/" in url else 'id="studies"') in html, url


def test_plotly_only_where_charts_are_deferred_compressed_and_cached_by_hash(client, filled):
    """The 5 MB plotly.js: loaded (deferred) on chart pages only; static files carry their
    content hash and are cached for a year under it; responses are gzipped."""
    import gzip
    import re

    studies = client.get("/").get_data(as_text=True)
    assert "plotly" not in studies
    html = client.get(f"/studies/{filled['done']}/trials/0").get_data(as_text=True)
    src = re.search(r'<script defer src="([^"]*plotly-strict\.min\.js\?v=[0-9a-f]{12})"', html)
    assert src, "the trial page loads plotly.js (strict: a trial's own figures) deferred, by content hash"
    assert re.search(r'<link rel="stylesheet" href="[^"]*style\.css\?v=[0-9a-f]{12}"', html)
    r = client.get(src.group(1), headers={"Accept-Encoding": "gzip, br"})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    assert "immutable" in r.headers["Cache-Control"] and "max-age=31536000" in r.headers["Cache-Control"]
    body = gzip.decompress(r.get_data())
    assert body.startswith(b"/**\n* plotly.js (strict - minified)") and len(r.get_data()) < len(body) / 2
    assert "no-cache" in client.get("/static/vendor/plotly-strict.min.js?v=stale").headers["Cache-Control"]
    # The study page: the small cartesian bundle where `make install` fetched it, same headers.
    from webui import plotly_bundle

    html = client.get(f"/studies/{filled['done']}").get_data(as_text=True)
    name = plotly_bundle.script_for("cartesian")
    src = re.search(r'<script defer src="([^"]*' + re.escape(name) + r'\?v=[0-9a-f]{12})"', html)
    assert src, f"the study page loads {name} deferred, by content hash"
    # ...asked for before the charts it preloads (Chromium asks deferred scripts at low
    # priority, behind preloads: on a server building the charts, plotly.js came last).
    assert re.search(r'<script defer src="[^"]*' + re.escape(name) + r'[^"]*" fetchpriority="high"', html)
    assert re.search(r'<script defer src="[^"]*app\.js[^"]*" fetchpriority="high"', html)
    r = client.get(src.group(1), headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and "immutable" in r.headers["Cache-Control"]
    assert gzip.decompress(r.get_data()).startswith(b"/**\n* plotly.js (")
    page = client.get(f"/studies/{filled['done']}", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip" and b"done-study" in gzip.decompress(page.get_data())
    api = client.get(f"/api/v1/studies/{filled['done']}/trials", headers={"Accept-Encoding": "gzip"})
    assert api.headers["Content-Encoding"] == "gzip" and api.headers["Content-Type"].startswith("application/json")
