"""Look-alike study names are refused (finding 10); no stored spec or name exceeds the caps
once parsed, and the studies list never loads whole specs (finding 11)."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import event, insert, select

from hpsearch.exceptions import SpecError
from hpsearch.limits import MAX_SPEC_BYTES
from hpsearch.spec import validate
from hpsearch.store import Store
from hpsearch.store.models import Study
from tests.security.conftest import PASSWORD, SECRET, bearer

MOD = "tests.security.allowlisted"
SPEC = {"name": "caps", "trainable": f"{MOD}:train", "metric": "loss", "mode": "min",
        "space": {"x": {"uniform": [0.0, 4.0]}}, "budget": {"trials": 1}}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One app, a member's token and the store, for the whole module (hashing is slow)."""
    from hpsearch.accounts import Accounts
    from webui import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('caps') / 'caps.db'}"
    store = Store(url)
    acc = Accounts(store)
    acc.add_user("ada", PASSWORD)
    acc.add_user("max", PASSWORD, role="member")
    _row, token = acc.create_token("max", "t")
    app = create_app({"TESTING": True, "DATABASE_URL": url, "AUTH": True, "SECRET_KEY": SECRET})
    yield app.test_client(), bearer(token), store
    store.dispose()


@pytest.fixture(autouse=True)
def allow(monkeypatch):
    monkeypatch.setenv("HPSEARCH_ALLOWED_MODULES", MOD)


def _names(store) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(Study.name)))


@pytest.mark.parametrize("name, code", [("invoice\u202egpj.exe", "U+202E"),
                                        ("ada\u200bstudy", "U+200B"),
                                        ("a\u2066b\u2069", "U+2066"),
                                        ("\ufeffbaseline", "U+FEFF"),
                                        ("x\u2028y", "U+2028")])
def test_study_names_refuse_bidi_controls_and_zero_width_characters(site, name, code):
    client, headers, store = site
    r = client.post("/api/v1/studies", json={**SPEC, "name": name}, headers=headers)
    assert r.status_code == 422, r.json
    field = r.json["fields"][0]
    assert field["field"] == "name" and code in field["message"]
    assert name not in _names(store)
    with pytest.raises(SpecError, match=re.escape(code)):
        validate({**SPEC, "name": name}, allow_import=False)


def test_the_store_refuses_names_and_specs_over_the_caps(site):
    _client, _headers, store = site
    spec = validate({**SPEC, "name": "ok-name"}, allow_import=False)
    spec.name = "n" * 300  # past the validator (a caller that skipped it)
    with pytest.raises(SpecError, match="name: must be at most 200"):
        store.create_study(spec)
    spec.name = "ok\u202ename"
    with pytest.raises(SpecError, match=re.escape("U+202E")):
        store.create_study(spec)
    assert not [n for n in _names(store) if n.startswith(("nnn", "ok"))]


def test_a_spec_over_the_cap_once_parsed_is_not_stored(site):
    client, headers, store = site
    # JSON: 300 KB of fixed values (under the 1 MiB request cap)
    big = {**SPEC, "name": "big-json", "fixed": {"blob": ["x" * 1000] * 300}}
    r = client.post("/api/v1/studies", json=big, headers=headers)
    assert r.status_code == 422, r.json
    assert r.json["fields"][0]["field"] == "spec"
    # YAML: 1 KB of aliases that parse into about 2.6 MB
    lines = ['a0: &a0 ["' + "y" * 40 + '"]']
    for i in range(1, 5):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 16) + "]")
    text = ("name: bomb\ntrainable: " + SPEC["trainable"] + "\nmetric: loss\nmode: min\n"
            "space: {x: {uniform: [0.0, 4.0]}}\nbudget: {trials: 1}\nfixed:\n"
            + "\n".join("  " + ln for ln in lines) + "\n")
    assert len(text) < 1024
    r = client.post("/api/v1/studies", json={"spec_yaml": text}, headers=headers)
    assert r.status_code == 422, r.json
    assert not {"big-json", "bomb"} & set(_names(store))


def test_the_studies_list_never_loads_whole_specs(site):
    client, headers, store = site
    huge = {**SPEC, "name": "legacy-huge", "fixed": {"blob": "z" * (4 * MAX_SPEC_BYTES)}}
    with store.session(write=True) as s:  # a row stored before the caps were enforced
        s.execute(insert(Study).values(name="legacy-huge", status="COMPLETED", trainable="cnn",
                                       searcher="random", scheduler="fifo", metric="loss",
                                       mode="min", n_trials=1, spec=huge, spec_hash="0" * 16))
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_):
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    app_store = client.application.extensions["hpsearch_store"]
    event.listen(app_store.engine, "before_cursor_execute", seen)
    try:
        page = client.get("/", headers=headers)
        api = client.get("/api/v1/studies", headers=headers)
    finally:
        event.remove(app_store.engine, "before_cursor_execute", seen)
        event.remove(store.engine, "before_cursor_execute", seen)
    assert page.status_code == 200 and b"legacy-huge" in page.data
    assert api.status_code == 200 and "legacy-huge" in json.dumps(api.json)
    reads = [st for st in statements if "FROM studies" in st]
    assert reads
    loaded = [st for st in reads if re.search(r"studies\.(spec|searcher_state)\b(?!_)", st)]
    assert not loaded, loaded[0][:300]
