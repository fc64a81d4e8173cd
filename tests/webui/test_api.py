"""The JSON API: every route, its errors, submission, idempotency and cancel."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func

from hpsearch import plots
from hpsearch.store import StudyStatus
from tests.webui.conftest import fill, make_spec

GOOD = {"name": "api-study", "trainable": "cnn", "dataset": "digits", "metric": "val_accuracy",
        "mode": "max", "space": {"lr": {"loguniform": [1e-4, 1e-1]}},
        "searcher": {"type": "random"}, "budget": {"trials": 3}}


def test_health_and_openapi(client):
    assert client.get("/api/v1/health").json == {"status": "ok"}
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    for path in ["/studies", "/studies/{study_id}", "/studies/{study_id}/trials",
                 "/studies/{study_id}/trials/{number}", "/studies/{study_id}/plots/{name}",
                 "/studies/{study_id}/cancel", "/health"]:
        assert path in doc["paths"]


def test_list_filter_sort_search(client, filled):
    body = client.get("/api/v1/studies").json
    assert body["total"] == 2 and {s["name"] for s in body["items"]} == {"done-study", "empty-study"}
    done = next(s for s in body["items"] if s["name"] == "done-study")
    assert done["trials_done"] == 6 and done["best_value"] == pytest.approx(0.75)
    assert client.get("/api/v1/studies?status=QUEUED").json["total"] == 1
    assert client.get("/api/v1/studies?q=empty").json["items"][0]["name"] == "empty-study"
    assert client.get("/api/v1/studies?q=100%25").json["total"] == 0
    assert [s["name"] for s in client.get("/api/v1/studies?sort=name").json["items"]] == \
        ["done-study", "empty-study"]
    assert client.get("/api/v1/studies?trainable=cnn&searcher=random").json["total"] == 2


@pytest.mark.parametrize("query", ["page=0", "page=x", "per_page=1000", "status=NOPE", "sort=bogus",
                                   "page=4&per_page=3"])
def test_bad_params_400(client, filled, query):
    for url in (f"/api/v1/studies?{query}", f"/api/v1/studies/{filled['done']}/trials?{query}"):
        r = client.get(url)
        assert r.status_code == 400 and r.json["status"] == 400 and r.json["message"]


def test_study_and_trials(client, filled):
    sid = filled["done"]
    body = client.get(f"/api/v1/studies/{sid}").json
    assert body["name"] == "done-study" and body["best_trial"]["number"] == 4
    assert body["end_reason"] == "all 6 trials of its budget ran"
    assert body["waiting"] is None  # only a running study's trials wait for a node
    page = client.get(f"/api/v1/studies/{sid}/trials?per_page=2&page=2").json
    assert page["total"] == 6 and page["pages"] == 3 and [t["number"] for t in page["items"]] == [2, 3]
    page = client.get(f"/api/v1/studies/{sid}/trials?status=ERROR").json
    assert [t["number"] for t in page["items"]] == [5]
    page = client.get(f"/api/v1/studies/{sid}/trials?sort=-value").json
    assert page["items"][0]["number"] == 4 and page["items"][-1]["value"] is None
    t = client.get(f"/api/v1/studies/{sid}/trials/0").json
    assert len(t["results"]) == 5 and [e["status"] for e in t["events"]] == ["RUNNING", "COMPLETED"]


def test_unknown_is_404_json(client, filled):
    for url in ["/api/v1/studies/999", "/api/v1/studies/999/trials", "/api/v1/studies/999/trials/0",
                f"/api/v1/studies/{filled['done']}/trials/99", "/api/v1/studies/999/plots/history",
                f"/api/v1/studies/{filled['done']}/plots/nope", "/api/v1/nothing"]:
        r = client.get(url)
        assert r.status_code == 404 and r.is_json and r.json["error"] == "not found", url
    assert client.post("/api/v1/studies/999/cancel").status_code == 404


@pytest.mark.parametrize("name", sorted(plots.PLOTS))
def test_plots(client, filled, name):
    r = client.get(f"/api/v1/studies/{filled['done']}/plots/{name}")
    assert r.status_code == 200 and r.json["data"]


def test_create_validates_and_is_idempotent(client):
    r = client.post("/api/v1/studies", json={**GOOD, "budget": {"trials": -1}, "bogus": 1})
    assert r.status_code == 422
    fields = {f["field"] for f in r.json["fields"]}
    assert {"budget.trials", "bogus"} <= fields
    r = client.post("/api/v1/studies", json={"spec_yaml": "name: [unclosed"})
    assert r.status_code == 422 and r.json["fields"][0]["field"] == "spec"
    assert client.post("/api/v1/studies", data="not json",
                       content_type="application/json").status_code == 400
    # A field given twice in the JSON body is refused (json.loads keeps the last one).
    twice = json.dumps(GOOD)[:-1] + ', "budget": {"trials": 500}, "space": {}}'
    r = client.post("/api/v1/studies", data=twice, content_type="application/json")
    assert r.status_code == 422 and {(f["field"], f["message"]) for f in r.json["fields"]} == {
        ("budget", "given twice; a spec names each field once"),
        ("space", "given twice; a spec names each field once")}, r.json
    assert client.get("/api/v1/studies").json["total"] == 0  # nothing written
    r1 = client.post("/api/v1/studies", json=GOOD, headers={"Idempotency-Key": "k-1"})
    assert r1.status_code == 201 and r1.json["status"] == "QUEUED"
    r2 = client.post("/api/v1/studies", json=GOOD, headers={"Idempotency-Key": "k-1"})
    assert r2.status_code == 201 and r2.json["id"] == r1.json["id"]
    r3 = client.post("/api/v1/studies", json=GOOD)
    assert r3.status_code == 409 and r3.json["status"] == 409
    import yaml

    r4 = client.post("/api/v1/studies", json={"spec_yaml": yaml.safe_dump({**GOOD, "name": "y"})})
    assert r4.status_code == 201 and r4.json["name"] == "y"


def test_cancel(client, filled):
    r = client.post(f"/api/v1/studies/{filled['empty']}/cancel")
    assert r.status_code == 200 and r.json["status"] == "CANCELLED"
    body = client.get(f"/api/v1/studies/{filled['empty']}").json
    assert body["end_reason"] == "cancelled before it started"
    r = client.post(f"/api/v1/studies/{filled['empty']}/cancel")
    assert r.status_code == 409 and r.is_json


def test_openapi_covers_every_api_route(app, client):
    doc = client.get("/api/v1/openapi.json").json
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = rule.rule[len("/api/v1"):].replace("<int:", "{").replace("<", "{").replace(">", "}")
        assert path in doc["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], (method, path)


def test_openapi_describes_authentication(client):
    doc = client.get("/api/v1/openapi.json").json
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert {"bearerAuth": []} in doc["security"]
    assert doc["paths"]["/health"]["get"]["security"] == []
    assert "401" in doc["paths"]["/studies"]["post"]["responses"]
    assert "403" in doc["paths"]["/studies/{study_id}/cancel"]["post"]["responses"]


def test_ids_past_the_database_range_are_404(client, filled):
    for url in ["/api/v1/studies/99999999999999999999", "/api/v1/studies/1/trials/99999999999999999999",
                "/api/v1/studies/99999999999999999999/plots/history",
                "/api/v1/studies/99999999999999999999/compare?trials=1,2"]:
        r = client.get(url)
        assert r.status_code == 404 and r.json["status"] == 404, url


def test_contour_pair_and_log_axes(client, filled):
    sid = filled["done"]
    fig = client.get(f"/api/v1/studies/{sid}/plots/contour?x=lr&y=dropout").json
    assert fig["layout"]["xaxis"]["title"]["text"] == "lr (log)"
    assert "1e-04" in fig["layout"]["xaxis"]["ticktext"] or "0.0001" in fig["layout"]["xaxis"]["ticktext"]
    assert fig["layout"]["yaxis"]["title"]["text"] == "dropout"
    fig = client.get(f"/api/v1/studies/{sid}/plots/contour?x=optimizer&y=lr").json
    assert fig["layout"]["xaxis"]["ticktext"] == ["adam", "sgd"]
    for query, word in [("x=lr", "both"), ("x=lr&y=lr", "different"), ("x=nope&y=lr", "nope")]:
        r = client.get(f"/api/v1/studies/{sid}/plots/contour?{query}")
        assert r.status_code == 400 and word in r.json["message"], query
    slice_fig = client.get(f"/api/v1/studies/{sid}/plots/slice").json
    assert slice_fig["layout"]["xaxis"]["type"] == "log"          # lr, the first panel
    assert slice_fig["layout"]["xaxis2"].get("type") != "log"     # dropout
    par = client.get(f"/api/v1/studies/{sid}/plots/parallel").json
    assert [d["label"] for d in par["layout"]["meta"]["dimensions"]][:2] == ["lr (log)", "dropout"]


def typed(a):
    """A trace array as a list: plotly writes numeric arrays as {"dtype", "bdata": base64}."""
    if isinstance(a, dict) and "bdata" in a:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(a["bdata"]), dtype=a["dtype"]).tolist()
    return list(a)


def test_charts_are_cached_until_the_study_moves(client, store, filled):
    import time

    from hpsearch.store import TrialStatus

    sid = filled["done"]
    url = f"/api/v1/studies/{sid}/plots/history"
    r = client.get(url)
    first, etag = r.data, r.headers["ETag"]
    assert client.get(url).data == first
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    store.apply([("trial", sid, "late", 6, {"lr": 0.01, "dropout": 0.1, "optimizer": "adam"},
                  TrialStatus.RUNNING, time.time()),
                 ("result", sid, "late", 1, 0.99, {"val_accuracy": 0.99}, time.time()),
                 ("status", sid, "late", TrialStatus.COMPLETED, {"value": 0.99}, time.time())])
    r = client.get(url, headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["ETag"] != etag  # the study moved
    fig = r.json
    assert 6 in typed(fig["data"][0]["x"]) and max(typed(fig["data"][1]["y"])) == 0.99


def test_finished_studies_charts_are_stored_for_every_process(client, store, filled, db_url):
    """A finished study's chart, built once, is stored in SQL: another server process serves
    that very figure without building it; a running study's charts are never stored."""
    from sqlalchemy import select, update

    from hpsearch.store.models import StudyFigureRow
    from webui import create_app

    sid = filled["done"]
    url = f"/api/v1/studies/{sid}/plots/slice"
    first = client.get(url).json
    with store.engine.connect() as c:
        rows = c.execute(select(StudyFigureRow.study_id, StudyFigureRow.data)).all()
    assert [r[0] for r in rows] == [sid]
    # A fresh process (its own chart cache) reads the stored row: marked here to tell it
    # from a figure built afresh.
    import zlib

    marked = dict(first, layout={**first["layout"], "meta": {"stored": True}})
    with store.engine.begin() as c:
        c.execute(update(StudyFigureRow).values(data=zlib.compress(json.dumps(marked).encode())))
    other = create_app({"TESTING": True, "DATABASE_URL": db_url}).test_client()
    assert other.get(url).json["layout"]["meta"] == {"stored": True}
    # Not for a running study, nor for another study state (finished again later).
    run = store.create_study(make_spec("running-study"), status=StudyStatus.RUNNING)
    fill(store, run.id)
    assert client.get(f"/api/v1/studies/{run.id}/plots/slice").status_code == 200
    with store.engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(StudyFigureRow)
                        .where(StudyFigureRow.study_id == run.id)) == 0
    store.set_study_status(sid, StudyStatus.RUNNING)
    store.set_study_status(sid, StudyStatus.COMPLETED)
    assert "stored" not in (other.get(url).json["layout"].get("meta") or {})
    store.delete_study(sid)  # its stored figures go with it
    with store.engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(StudyFigureRow)
                        .where(StudyFigureRow.study_id == sid)) == 0


def test_trial_detail_checkpoint_and_metrics(client, store, filled, tmp_path):
    from sqlalchemy import update

    from hpsearch.store.models import Trial

    ckpt = tmp_path / "checkpoint_000004"
    ckpt.mkdir()
    (ckpt / "state.pt").write_bytes(b"x" * 1500)
    with store.session(write=True) as s:
        s.execute(update(Trial).where(Trial.study_id == filled["done"], Trial.number == 0)
                  .values(checkpoint=str(ckpt)))
        s.execute(update(Trial).where(Trial.study_id == filled["done"], Trial.number == 1)
                  .values(checkpoint="/elsewhere/checkpoint_000002"))
    t = client.get(f"/api/v1/studies/{filled['done']}/trials/0").json
    c = t["checkpoint"]
    assert c["on_this_host"] and c["size_bytes"] == 1500 and c["files"] == 1 and c["index"] == 4
    assert c["iteration"] == 5 and c["modified_at"]
    assert t["last_metrics"] == {"val_accuracy": pytest.approx(0.55), "loss": pytest.approx(0.45)}
    other = client.get(f"/api/v1/studies/{filled['done']}/trials/1").json["checkpoint"]
    assert other["index"] == 2 and not other["on_this_host"] and other["size_bytes"] is None
    assert client.get(f"/api/v1/studies/{filled['done']}/trials/2").json["checkpoint"] is None
    html = client.get(f"/studies/{filled['done']}/trials/0").get_data(as_text=True)
    assert str(ckpt) in html and "1.5 kB" in html and "loss" in html
    assert "not on this host" in client.get(f"/studies/{filled['done']}/trials/1").get_data(as_text=True)


JUNK = ["page=99999999999999999999&per_page=-1", "sort=;drop", "sort=-param.", "status=%3Cscript%3E",
        "q=%25%5C_&ids=1,x", "ids=&trials=1,1", "trials=99999999999,1&x=lr", "x=lr&y=nope",
        "param.lr.min=x&param.=1", "param.lr.max=1e999&param.optimizer=%00",
        "template=../../etc/passwd"]


def test_no_route_answers_500_to_junk(app, client, filled):
    """Every GET route of the URL map, with unknown ids and junk arguments: 2xx or 4xx."""
    seen = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        ids = [{"study_id": filled["done"], "number": 0, "name": "contour"},
               {"study_id": 999, "number": 99, "name": "nope"},
               {"study_id": 2**40, "number": 2**40, "name": "history"}]
        for values in ids:
            path = rule.rule
            for key, v in values.items():
                path = path.replace(f"<int:{key}>", str(v)).replace(f"<{key}>", str(v))
            for junk in JUNK:
                r = client.get(f"{path}?{junk}")
                assert r.status_code < 500, (path, junk, r.status_code)
                if path.startswith("/api/") and r.status_code >= 400:
                    assert r.is_json and r.json["message"], (path, junk)
                seen += 1
    assert seen > 150


def test_compare_studies(client, filled):
    body = client.get(f"/api/v1/compare?ids={filled['done']},{filled['empty']}").json
    done, empty = body["studies"]
    assert done["name"] == "done-study" and done["trials_to_best"] == 5 and empty["trials_to_best"] is None
    assert body["best_trials"][0]["number"] == 4 and body["best_trials"][1] is None
    assert {r["param"] for r in body["params"]} == {"lr", "dropout", "optimizer"}
    assert len(body["figure"]["data"]) == 1
    assert client.get(f"/api/v1/compare?ids={filled['done']}&ids={filled['empty']}").json == body
    for bad, status in [("", 400), ("?ids=x", 400), ("?ids=" + ",".join(map(str, range(1, 13))), 400),
                        ("?ids=999", 404)]:
        r = client.get("/api/v1/compare" + bad)
        assert r.status_code == status and r.json["message"], bad
