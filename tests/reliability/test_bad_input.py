"""Bad input: thousands of generated, mangled specs at the parser and at the JSON API.

Each must either validate or be refused with a SpecError naming a field (HTTP 4xx
with a JSON message); never a traceback, never a 500, and nothing written when refused.
"""
from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpsearch import spec as specmod
from hpsearch.exceptions import SpecError
from hpsearch.store import Store
from tests.reliability.conftest import record

EXAMPLES = 1000
SETTINGS = dict(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

BASE = {"name": "prop", "trainable": "cnn", "dataset": "digits", "metric": "val_accuracy",
        "mode": "max", "space": {"lr": {"loguniform": [1e-4, 1e-1]},
                                 "optimizer": {"choice": ["adam", "sgd"]}},
        "fixed": {"epochs": 2}, "searcher": {"type": "random"}, "scheduler": {"type": "fifo"},
        "budget": {"trials": 3, "max_concurrent": 1, "max_failures": 0},
        "resources": {"cpu": 1, "gpu": 0}, "seed": 0}
PATHS = [("name",), ("trainable",), ("dataset",), ("metric",), ("mode",), ("space",),
         ("space", "lr"), ("space", "lr", "loguniform"), ("space", "optimizer", "choice"),
         ("fixed",), ("fixed", "epochs"), ("searcher",), ("searcher", "type"),
         ("searcher", "n_initial_points"), ("scheduler",), ("scheduler", "type"),
         ("scheduler", "grace_period"), ("budget",), ("budget", "trials"),
         ("budget", "max_concurrent"), ("budget", "max_failures"), ("budget", "time_limit_s"),
         ("resources",), ("resources", "cpu"), ("resources", "gpu"), ("resources", "custom"),
         ("seed",), ("warm_start",), ("description",)]
WEIRD = ["", " ", "\t\n", "../../etc/passwd", "%2e%2e/%2e%2e/etc", "/etc/passwd", "os:system",
         "builtins:eval", "!!python/object:os.system", "\x00", "é✓🙂\u202e", "1e309", "-1",
         "grid", "uniform", "loguniform", "choice", "cnn", "random", "bayesian", "asha", "pbt",
         "min", "max", "<script>alert(1)</script>", "x" * 300]
LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                 st.integers(-3, 3), st.floats(), st.text(max_size=20), st.sampled_from(WEIRD))
JUNK = st.recursive(LEAF, lambda c: st.one_of(st.lists(c, max_size=4),
                                              st.dictionaries(st.text(max_size=8), c, max_size=4)),
                    max_leaves=8)
PARAM = st.one_of(JUNK, st.builds(lambda k, v: {k: v}, st.sampled_from(
    ["uniform", "loguniform", "int", "choice", "grid", "quniform", "normal", "logint"]),
    st.one_of(JUNK, st.lists(st.one_of(st.integers(-10**6, 10**6), st.floats()), max_size=3))))


def _set(d: dict, path: tuple, value) -> None:
    for key in path[:-1]:
        if not isinstance(d.get(key), dict):
            d[key] = {}
        d = d[key]
    d[path[-1]] = value


def _delete(d: dict, path: tuple) -> None:
    for key in path[:-1]:
        d = d.get(key)
        if not isinstance(d, dict):
            return
    d.pop(path[-1], None)


@st.composite
def mangled_specs(draw):
    if draw(st.integers(0, 19)) == 0:
        return draw(JUNK)  # not even a mapping
    spec = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "set", "delete", "unknown", "space"]))
        path = draw(st.sampled_from(PATHS))
        if op == "set":
            _set(spec, path, draw(JUNK))
        elif op == "delete":
            _delete(spec, path)
        elif op == "unknown":
            _set(spec, path[:-1] + (draw(st.text(min_size=1, max_size=12)),), draw(JUNK))
        else:
            spec["space"] = draw(st.dictionaries(st.text(max_size=8), PARAM, max_size=3))
    return spec


def _check_refusal(exc: SpecError) -> None:
    assert exc.problems
    for field, message in exc.problems:
        assert isinstance(field, str) and field.strip(), exc.problems  # names a field
        assert isinstance(message, str) and message.strip()
        assert field in str(exc)


def test_the_parser_refuses_mangled_specs_cleanly():
    seen = {"inputs": 0, "valid": 0, "refused": 0}

    @settings(**SETTINGS)
    @given(mangled_specs())
    def check(raw):
        seen["inputs"] += 1
        try:
            specmod.validate(raw, allow_import=False)
            seen["valid"] += 1
        except SpecError as exc:
            _check_refusal(exc)
            seen["refused"] += 1
        # Text too: the same spec as YAML/JSON through the safe loader.
        try:
            specmod.validate(specmod.parse_text(json.dumps(raw)), allow_import=False)
        except SpecError as exc:
            _check_refusal(exc)

    check()
    assert seen["inputs"] >= EXAMPLES and seen["refused"] > EXAMPLES // 2
    record("bad_input_parser", inputs=seen["inputs"] * 2, valid=seen["valid"],
           refused=seen["refused"], tracebacks=0)


def test_the_api_answers_mangled_specs_with_4xx_json(tmp_path):
    from webui import create_app

    url = f"sqlite:///{tmp_path / 'api.db'}"
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    client = app.test_client()
    store = Store(url)
    seen = {"inputs": 0, "created": 0, "refused": 0}

    @settings(**SETTINGS)
    @given(mangled_specs(), st.integers(0, 9))
    def check(raw, how):
        seen["inputs"] += 1
        if isinstance(raw, dict) and raw.get("name") == BASE["name"]:
            raw = {**raw, "name": f"prop-{seen['inputs']}"}  # valid ones are created, not 409
        before = len(store.list_studies())
        if how == 0:  # as YAML text in the body's spec_yaml
            r = client.post("/api/v1/studies", json={"spec_yaml": json.dumps(raw)[:5000]})
        elif how == 1:  # a broken JSON body
            r = client.post("/api/v1/studies", data=json.dumps(raw)[:-1] or "{",
                            content_type="application/json")
        else:
            r = client.post("/api/v1/studies", json=raw)
        assert r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:500])
        body = r.get_json()
        assert isinstance(body, dict), r.get_data(as_text=True)[:300]
        if r.status_code == 201:
            seen["created"] += 1
        else:
            assert 400 <= r.status_code < 500 and body.get("message"), body
            assert len(store.list_studies()) == before  # nothing written
            seen["refused"] += 1

    check()
    assert seen["inputs"] >= EXAMPLES
    record("bad_input_api", inputs=seen["inputs"], created=seen["created"],
           refused=seen["refused"], server_errors=0)
