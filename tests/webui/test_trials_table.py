"""The trials table (#16): column picker, best row, page size and jump, and export of the
filtered table as CSV and JSON with the columns of ``Study.to_dataframe()``."""
from __future__ import annotations

import csv
import io
import math


def test_export_is_the_filtered_table_with_to_dataframe_columns(client, store, filled):
    from hpsearch.api import Study

    sid = filled["done"]
    df = Study(store, sid).to_dataframe()
    r = client.get(f"/api/v1/studies/{sid}/trials/export?format=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert list(rows[0]) == list(df.columns)
    assert len(rows) == len(df)
    for got, want in zip(rows, df.to_dict("records")):
        for k, v in want.items():
            if v is None or (isinstance(v, float) and math.isnan(v)):
                assert got[k] == "", k
            elif isinstance(v, float):
                assert math.isclose(float(got[k]), v), k
            else:
                assert got[k] == str(v), k
    js = client.get(f"/api/v1/studies/{sid}/trials/export?format=json").json
    assert [d["number"] for d in js] == list(df["number"]) and set(js[0]) == set(df.columns)
    # The table's filters and sort apply.
    js = client.get(f"/api/v1/studies/{sid}/trials/export?format=json&param.optimizer=adam"
                    "&sort=-value").json
    assert [d["param_optimizer"] for d in js] == ["adam"] * 3
    assert [d["val_accuracy"] for d in js] == sorted((d["val_accuracy"] for d in js), reverse=True)
    r = client.get(f"/api/v1/studies/{sid}/trials/export?format=xml")
    assert r.status_code == 400 and "format" in r.json["message"]


def test_columns_best_row_page_size_and_jump(client, filled):
    sid = filled["done"]
    html = client.get(f"/studies/{sid}?cols=duration&cols=metric.loss").get_data(as_text=True)
    assert "<th>loss (last)</th>" in html and "<th>duration</th>" in html
    assert html.count('data-col="metric.loss"') == 6
    assert 'class="best-row"' in html and html.count('class="best-row"') == 1
    assert 'data-trial="4" class="best-row"' in html
    r = client.get(f"/studies/{sid}?cols=metric.nope")
    assert r.status_code == 400 and "metric.loss" in r.get_data(as_text=True)
    r = client.get(f"/api/v1/studies/{sid}/trials?cols=metric.loss")
    assert r.json["items"][0]["columns"]["metric.loss"] is not None
    html = client.get(f"/studies/{sid}?per_page=2&page=2").get_data(as_text=True)
    assert "page 2 of 3" in html and 'name="per_page"' in html and 'max="3"' in html
    assert "export-csv" in html and "format=csv" in html


def test_worker_column_trial_page_and_api_say_where_a_trial_ran(client, store, filled):
    from hpsearch.api import Study

    sid = filled["done"]
    ray_id = next(t.ray_trial_id for t in store.trials(sid) if t.number == 2)
    store.apply([("placement", sid, ray_id, {"node_id": "ab12cd34" * 7, "node_host": "gpu-box-1",
                                             "node_ip": "10.0.0.7", "slot": 1})])
    html = client.get(f"/studies/{sid}?cols=worker").get_data(as_text=True)
    assert "<th>worker</th>" in html and 'value="worker" checked' in html
    assert '<td data-col="worker">gpu-box-1 (ab12cd34) · slot 1</td>' in html
    assert html.count('<td data-col="worker"></td>') == 5  # the others never said
    page = client.get(f"/studies/{sid}/trials/2").get_data(as_text=True)
    assert 'id="worker"' in page and "gpu-box-1 (ab12cd34) · slot 1" in page and "10.0.0.7" in page
    got = client.get(f"/api/v1/studies/{sid}/trials/2").json["worker"]
    assert got == {"node_id": "ab12cd34" * 7, "host": "gpu-box-1", "ip": "10.0.0.7", "slot": 1,
                   "label": "gpu-box-1 (ab12cd34) · slot 1"}
    assert client.get(f"/api/v1/studies/{sid}/trials/1").json["worker"] is None
    items = client.get(f"/api/v1/studies/{sid}/trials?cols=worker").json["items"]
    assert [d["columns"]["worker"] for d in items if d["number"] == 2] == ["gpu-box-1 (ab12cd34) · slot 1"]
    df = Study(store, sid).to_dataframe()
    assert df.set_index("number").loc[2, "worker"] == "gpu-box-1 (ab12cd34) · slot 1"


def test_every_page_in_every_sort_is_the_slice_of_the_whole_order(client, store):
    """A page in the back half is read from the other end in the reversed order
    (hpsearch/store/queries.py page): it holds exactly the rows the forward order puts there,
    with NULL values, ties on the sorted column and a short last page."""
    import time

    from hpsearch.store import StudyStatus, TrialStatus
    from tests.webui.conftest import make_spec

    sid = store.create_study(make_spec("pages-both-ways"), status=StudyStatus.RUNNING).id
    ops, t = [], time.time()
    for i in range(23):
        rid = f"p{i}"
        ops.append(("trial", sid, rid, i, {"lr": 0.001, "dropout": 0.1, "optimizer": "adam"},
                    TrialStatus.RUNNING, t))
        if i % 5 == 4:
            ops.append(("status", sid, rid, TrialStatus.ERROR, {"error": "x"}, t))  # no value
        else:
            ops.append(("status", sid, rid, TrialStatus.COMPLETED, {"value": float(i % 3)}, t))
    store.apply(ops)
    for sort in ("number", "-number", "value", "-value", "status", "-status"):
        whole = client.get(f"/api/v1/studies/{sid}/trials?sort={sort}&per_page=100").json["items"]
        assert len(whole) == 23
        got = []
        for page in range(1, 6):
            body = client.get(f"/api/v1/studies/{sid}/trials?sort={sort}&per_page=5&page={page}").json
            got += [d["number"] for d in body["items"]]
        assert got == [d["number"] for d in whole], sort
