"""Trial filters on param ranges and choices, and comparing chosen trials: in SQL, on
SQLite and on PostgreSQL (the JSON operators differ), with clear 400s for bad filters."""
from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Overrides the package's SQLite-only db_url: these queries must run on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'web.db'}"
    return request.getfixturevalue("pg_url")


def _numbers(client, sid, query):
    r = client.get(f"/api/v1/studies/{sid}/trials?per_page=50&{query}")
    assert r.status_code == 200, r.json
    return [t["number"] for t in r.json["items"]]


def test_param_filters_in_sql(client, filled):
    # The fixture's trials i = 0..5: lr = 10 ** (-4 + i / 2), dropout = i / 10,
    # optimizer adam for even i, sgd for odd; trial 5 is an ERROR, 1 early stopped.
    sid = filled["done"]
    assert _numbers(client, sid, "param.lr.min=0.0009&param.lr.max=0.011") == [2, 3, 4]
    assert _numbers(client, sid, "param.optimizer=sgd") == [1, 3, 5]
    assert _numbers(client, sid, "param.optimizer=sgd&param.optimizer=adam") == [0, 1, 2, 3, 4, 5]
    assert _numbers(client, sid, "param.dropout.max=0.25&sort=-number") == [2, 1, 0]
    assert _numbers(client, sid, "param.lr.min=0.0009&param.optimizer=sgd&status=COMPLETED") == [3]
    assert _numbers(client, sid, "param.lr.min=1") == []
    # Sorting by a param's value, in SQL too.
    assert _numbers(client, sid, "sort=-param.lr") == [5, 4, 3, 2, 1, 0]
    assert _numbers(client, sid, "sort=param.optimizer&param.dropout.min=0.15") == [2, 4, 3, 5]
    r = client.get(f"/api/v1/studies/{sid}/trials?sort=param.nope")
    assert r.status_code == 400 and "nope" in r.json["message"]
    assert _numbers(client, sid, "param.lr.min=&param.optimizer=") == [0, 1, 2, 3, 4, 5]  # empty = any
    page = client.get(f"/api/v1/studies/{sid}/trials?param.lr.max=0.002&per_page=1&page=2").json
    assert page["total"] == 3 and page["pages"] == 3 and page["items"][0]["number"] == 1
    assert page["params"] == {"lr": {"max": 0.002}}
    # The page's table, its filter form keeps the values, and paging keeps the filter.
    html = client.get(f"/studies/{sid}?param.optimizer=sgd&per_page=1").get_data(as_text=True)
    assert "3 trials match" in html and "param.optimizer=sgd" in html
    assert '<option value="sgd" selected>' in html


BAD_FILTERS = [
    ("param.lr.min=abc", ["param.lr.min", "abc"]),
    ("param.lr.max=nan", ["param.lr.max", "nan"]),
    ("param.nope.min=1", ["nope", "lr, dropout, optimizer"]),
    ("param.optimizer=rmsprop", ["param.optimizer", "rmsprop", "adam, sgd"]),
    ("param.lr=0.01", ["param.lr", "range"]),
    ("param.optimizer.min=1", ["param.optimizer.min", "choice"]),
    ("param.lr.min=0.1&param.lr.max=0.01", ["param.lr.min", "param.lr.max"]),
]


def test_bad_filters_400_naming_the_argument(client, filled):
    for query, names in BAD_FILTERS:
        r = client.get(f"/api/v1/studies/{filled['done']}/trials?{query}")
        assert r.status_code == 400 and r.is_json, query
        assert all(n in r.json["message"] for n in names), r.json["message"]
        page = client.get(f"/studies/{filled['done']}?{query}")
        assert page.status_code == 400 and names[0] in page.get_data(as_text=True), query


def test_compare_chosen_trials(client, filled):
    sid = filled["done"]
    body = client.get(f"/api/v1/studies/{sid}/compare?trials=4,0").json
    assert [t["number"] for t in body["trials"]] == [4, 0]
    rows = {r["param"]: r for r in body["params"]}
    assert rows["lr"]["differs"] and not rows["optimizer"]["differs"]  # both adam
    assert {t["name"] for t in body["figure"]["data"]} == {"trial 4", "trial 0"}
    assert len(body["figure"]["data"][0]["x"]) == 5
    repeated = client.get(f"/api/v1/studies/{sid}/compare?trials=4&trials=0").json
    assert [t["number"] for t in repeated["trials"]] == [4, 0]
    html = client.get(f"/studies/{sid}/compare?trials=1&trials=5").get_data(as_text=True)
    assert "params-diff" in html and "EARLY_STOPPED" in html and "chart-compare-trials" in html
    for bad in ["", "?trials=", "?trials=1", "?trials=1,1", "?trials=a,b", "?trials=-1,2",
                "?trials=" + ",".join(map(str, range(21)))]:
        for url in (f"/api/v1/studies/{sid}/compare{bad}", f"/studies/{sid}/compare{bad}"):
            r = client.get(url)
            assert r.status_code == 400 and "trials" in r.get_data(as_text=True), url
    assert client.get(f"/api/v1/studies/{sid}/compare?trials=0,99").status_code == 404
    assert client.get("/api/v1/studies/999/compare?trials=0,1").status_code == 404
    assert client.get(f"/studies/{sid}/compare?trials=0,99").status_code == 404


def test_metric_filters_in_sql(client, filled):
    # Trial i's last result: val_accuracy 0.55 + 0.05 i, loss 0.45 - 0.05 i (trial 5 errored
    # after reporting). Any reported metric (or objective) filters, as a range or a condition.
    sid = filled["done"]
    assert _numbers(client, sid, "metric.loss.max=0.32") == [3, 4, 5]
    assert _numbers(client, sid, "metric.val_accuracy.min=0.62&metric.val_accuracy.max=0.78") == [2, 3, 4]
    assert _numbers(client, sid, "where=val_accuracy>0.62,loss>0.32") == [2]
    assert _numbers(client, sid, "where=loss<0.32&where=val_accuracy<=0.75&status=COMPLETED") == [3, 4]
    assert _numbers(client, sid, "where=loss<0.32&param.optimizer=adam") == [4]
    assert _numbers(client, sid, "sort=-metric.loss&where=loss<0.32") == [3, 4, 5]
    page = client.get(f"/api/v1/studies/{sid}/trials?where=loss<=0.32").json
    assert page["metrics"] == {"loss": {"max": 0.32}} and page["total"] == 3
    rows = client.get(f"/api/v1/studies/{sid}/trials/export?format=json&where=loss<=0.32").json
    assert [r["number"] for r in rows] == [3, 4, 5]
    html = client.get(f"/studies/{sid}?where=loss<=0.32").get_data(as_text=True)
    assert "3 trials match" in html and 'value="loss&lt;=0.32"' in html


BAD_METRIC_FILTERS = [
    ("metric.nope.max=1", ["metric.nope.max", "nope", "val_accuracy, loss"]),
    ("where=nope<1", ["where=nope<1", "nope", "val_accuracy"]),
    ("where=loss=1", ["where", "loss=1", "<="]),
    ("metric.loss.max=abc", ["metric.loss.max", "abc"]),
    ("metric.loss=1", ["metric.loss", ".min"]),
    ("where=loss>0.5,loss<0.2", ["loss", "> 0.5", "< 0.2"]),
    ("where=loss>=0.3,loss>0.3,loss<=0.3", ["loss", "> 0.3", "<= 0.3"]),  # the strict bound binds
    ("where=loss<=0.5&metric.loss.max=0.4", ["loss", "once"]),
    ("sort=metric.nope", ["sort", "nope"]),
]


def test_bad_metric_filters_400_naming_the_argument(client, filled):
    for q, names in BAD_METRIC_FILTERS:
        r = client.get(f"/api/v1/studies/{filled['done']}/trials?{q}")
        assert r.status_code == 400 and r.is_json, q
        assert all(n in r.json["message"] for n in names), (q, r.json["message"])
