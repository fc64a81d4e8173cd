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
