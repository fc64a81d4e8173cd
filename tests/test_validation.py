"""A spec is checked whole at the door: every problem at once, each naming its field and
value, the same from the CLI, the Python API, the web form and the JSON API; nothing is
written and nothing started for a refused spec; validating imports no heavy library."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from hpsearch import spec as specmod
from hpsearch.exceptions import SpecError
from hpsearch.store import Store

ROOT = Path(__file__).resolve().parents[1]

# Ten different mistakes, each in a different part of the spec.
TEN = textwrap.dedent("""\
    name: ten-mistakes
    trainable: cnn
    colour: red
    space:
      lr: {loguniform: [1.0e-4, 1.0e-1]}
      chanels: {int: [8, 32]}
      channels: {uniform: [8, 32]}
      conv_layers: {int: [1, 20]}
    fixed: {dropout: 3.0, optimizer: nope}
    searcher: {type: bayesian, surrogate: XYZ, n_initial_points: -3}
    scheduler: {type: asha, grace_period: 0}
    budget: {trials: 5, max_concurrent: 0}
""")
TEN_FIELDS = {
    "colour": "unknown field",
    "budget.max_concurrent": "0",
    "fixed.dropout": "3.0",
    "fixed.optimizer": "'nope'",
    "space.chanels": "no hyperparameter 'chanels'",
    "space.channels.uniform": "integer",
    "space.conv_layers.int": "20",
    "searcher.surrogate": "'XYZ'",
    "searcher.n_initial_points": "-3",
    "scheduler.grace_period": "0",
}

# The reproductions of issue 14: each was accepted, then failed minutes later.
CNN = {"name": "repro", "trainable": "cnn", "space": {"lr": {"loguniform": [1e-4, 1e-1]}},
       "budget": {"trials": 2}}
REPRODUCTIONS = [
    ({"searcher": {"type": "bayesian", "surrogate": "XYZ", "n_initial_points": -3}},
     {"searcher.surrogate", "searcher.n_initial_points"}),
    ({"fixed": {"dropout": 3.0, "optimizer": "nope"}}, {"fixed.dropout", "fixed.optimizer"}),
    ({"space": {"dropout": {"uniform": [1.2, 1.5]}}}, {"space.dropout.uniform"}),
    ({"fixed": {"dropuot": 0.2}}, {"fixed.dropuot"}),
]


def problems(raw) -> dict[str, str]:
    with pytest.raises(SpecError) as e:
        specmod.validate(raw) if isinstance(raw, dict) else specmod.load(raw)
    return dict(e.value.problems)


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real ``hpsearch`` command; on exit it says whether Ray or torch were imported."""
    code = ("import atexit, sys\n"
            "atexit.register(lambda: sys.stderr.write('\\nIMPORTED=' + ','.join(sorted("
            "m for m in ('ray', 'torch', 'skopt', 'deap') if m in sys.modules))))\n"
            "from hpsearch.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})}, timeout=120)


def test_ten_mistakes_listed_in_one_run_exit_2_nothing_written_nothing_started(tmp_path):
    path = tmp_path / "ten.yaml"
    path.write_text(TEN)
    for args in (["validate", str(path)],
                 ["submit", "--local", "--db", f"sqlite:///{tmp_path / 'h.db'}", str(path)]):
        r = cli(*args, env={"HPSEARCH_HOME": str(tmp_path / "home")})
        assert r.returncode == 2, r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
        got = dict(ln.removeprefix("error: ").split(": ", 1) for ln in lines)
        assert set(got) == set(TEN_FIELDS), r.stderr
        for field, words in TEN_FIELDS.items():
            assert words in got[field], (field, got[field])
        assert "Traceback" not in r.stderr
        assert r.stderr.rstrip().endswith("IMPORTED="), r.stderr  # no Ray, no torch
    assert Store(f"sqlite:///{tmp_path / 'h.db'}").list_studies() == []


@pytest.mark.parametrize("change, fields", REPRODUCTIONS)
def test_reproductions_are_refused_at_the_door_by_every_entrance(change, fields, tmp_path):
    from webui import create_app

    raw = {**CNN, **change}
    expected = problems(raw)
    assert fields <= set(expected), expected
    for field in fields:  # each names its value
        assert any(ch.isdigit() or "'" in ch for ch in expected[field]), expected[field]

    url = f"sqlite:///{tmp_path / 'web.db'}"
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    client = app.test_client()
    r = client.post("/api/v1/studies", json=raw)
    assert r.status_code == 422 and r.is_json
    assert {f["field"]: f["message"] for f in r.get_json()["fields"]} == expected
    r = client.post("/api/v1/studies", json={"spec_yaml": yaml.safe_dump(raw)})
    assert {f["field"]: f["message"] for f in r.get_json()["fields"]} == expected

    import hpsearch
    with pytest.raises(SpecError) as e:
        hpsearch.run(raw, db=url)
    assert dict(e.value.problems) == expected
    assert Store(url).list_studies() == []


def test_the_web_form_shows_the_same_messages(tmp_path):
    from tests.webui.conftest import CsrfClient
    from webui import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'f.db'}"})
    app.test_client_class = CsrfClient
    client = app.test_client()
    raw = {**CNN, **REPRODUCTIONS[1][0], "space": {"dropout": {"uniform": [1.2, 1.5]}}}
    expected = problems(raw)
    r = client.post("/submit", data={"spec": yaml.safe_dump(raw)})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    from markupsafe import escape
    for field, message in expected.items():
        assert f'data-field="{field}"' in html and str(escape(message)) in html


def test_every_family_template_validates_and_checks_its_own_ranges():
    import trainables

    for name in sorted(trainables.BUILTIN):  # a test may have registered a template-less one
        info = trainables.describe(name)
        spec = specmod.validate(info.template)
        assert spec.trainable == name
        schema = info.options
        for key in info.template["space"]:
            assert key in schema.model_fields  # the template only searches what it reads


@pytest.mark.parametrize("text, field, words", [
    ("a: &x [1, 2]\nb: *x\n", "spec", "aliases"),
    ("name: &n x\n", "spec", "anchors"),
    # "billion laughs": a few hundred bytes that would expand to 10^9 values
    ("a: &a ['x','x','x','x','x','x','x','x','x','x']\n"
     + "".join(f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
               for p, c in zip("abcdefgh", "bcdefghi")), "spec", "aliases"),
    ("name: " + "[" * 5000 + "]" * 5000 + "\n", "spec", "nested deeper"),
    ("{" + '"a": {' * 200 + "}" * 201, "spec", "nested deeper"),
    ("name: x\nseed: " + "9" * 5000 + "\n", "spec", "not valid YAML"),
    ("name: x\ntrainable: cnn\nspace: {lr: {uniform: [0.1, 0.2]}}\nbudget: {trials: ³}\n",
     "budget.trials", "'³'"),
    ("name: x\ntrainable: cnn\nspace: {lr: {uniform: [0.1, 0.2]}}\nbudget: {trials: ٣}\n",
     "budget.trials", "'٣'"),
    ("name: x\ntrainable: cnn\nspace: {lr: {uniform: [0.1, 0.2]}}\nbudget: {trials: 2}\n"
     "seed: 99999999999999999999999999\n", "spec", "more than"),
    ("name: x\ntrainable: cnn\nspace: {lr: {uniform: [0.1, 1.0e999]}}\nbudget: {trials: 2}\n",
     "space.lr.uniform[1]", "finite"),
])
def test_structural_bad_input_is_refused_with_a_field(text, field, words, tmp_path):
    got = problems(text)
    assert field in got and words in got[field], got

    from webui import create_app
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"})
    r = app.test_client().post("/api/v1/studies", json={"spec_yaml": text})
    assert 400 <= r.status_code < 500 and r.is_json
    assert field in {f["field"] for f in r.get_json()["fields"]}


def test_deep_json_bodies_are_a_4xx(tmp_path):
    from webui import create_app
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"})
    client = app.test_client()
    for body in ('{"name": ' + "[" * 100_000 + "]" * 100_000 + "}",
                 '{"name": "x", "seed": ' + "9" * 10_000 + "}",
                 json.dumps({"name": "x", "space": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {
                     "h": {"i": {"j": {"k": {"l": {"m": {"n": {"o": {"p": {"q": 1}}}}}}}}}}}}}}}}}})):
        r = client.post("/api/v1/studies", data=body, content_type="application/json")
        assert 400 <= r.status_code < 500 and r.is_json, (r.status_code, body[:40])


def test_validating_imports_neither_torch_ray_skopt_nor_deap():
    code = textwrap.dedent("""
        import sys
        import searchers, trainables
        from hpsearch import schedulers, spec
        from hpsearch.exceptions import SpecError
        n = 0
        for name in trainables.names():
            t = trainables.describe(name).template
            for s in searchers.names():
                for sch in schedulers.names():
                    raw = {**t, "searcher": {"type": s}, "scheduler": {"type": sch},
                           "space": {**t["space"], "lr": {"grid": [0.001, 0.003]}}}
                    spec.validate(raw)
                    n += 1
        try:
            spec.load(open(sys.argv[1]).read())
        except SpecError as e:
            n += len(e.problems) > 9
        combos = len(trainables.names()) * len(searchers.names()) * len(schedulers.names())
        print(n, combos + 1, sorted(m for m in ("torch", "ray", "skopt", "deap") if m in sys.modules))
    """)
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"hps-ten-{os.getpid()}.yaml"
    path.write_text(TEN)
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    path.unlink()
    assert r.returncode == 0, r.stderr
    # Counted in the fresh process: tests earlier in this session may have registered more.
    n, expected, imported = r.stdout.split()
    assert (n, imported) == (expected, "[]"), r.stdout


def test_option_schemas_are_the_one_truth_for_searchers_schedulers_and_families():
    """The registries read their options from the schemas: what validation accepts, the
    searcher, the scheduler and the training harness accept, and the reverse."""
    import searchers
    from hpsearch import schedulers
    from trainables import _options

    for name in searchers.names():
        schema = searchers.options_schema(name)
        assert searchers.check_options(name, {}) == schema.defaults()
    for name in schedulers.names():
        assert schedulers.check(name, {}) == schedulers.REGISTRY[name].options.defaults()
    with pytest.raises(SpecError) as e:
        searchers.check_options("bayesian", {"surrogate": "XYZ", "n_initial_points": -3, "zz": 1})
    assert {f for f, _ in e.value.problems} == {"searcher.surrogate", "searcher.n_initial_points",
                                                "searcher.zz"}
    from trainables._layers import ACTIVATIONS
    assert set(_options.ACTIVATIONS) == set(ACTIVATIONS)


@pytest.mark.parametrize("args", [["list"], ["show", "s"], ["cancel", "s"], ["logs", "s", "0"],
                                  ["export", "s", "--out", "m"], ["deployments"],
                                  ["db", "current"]])
def test_a_missing_sqlite_file_named_for_reading_is_a_typo_not_a_new_database(tmp_path, args):
    """`hpsearch list --db sqlite:///hpsearh.db` created an empty database there and listed
    no studies; commands that read what is there refuse a file that does not exist (named
    by --db or HPSEARCH_DB) and create nothing. The built-in default is created as ever."""
    home = tmp_path / "home"
    typo = tmp_path / "hpsearh.db"
    for how in ("option", "env"):
        env = {"HPSEARCH_HOME": str(home)}
        argv = list(args)
        if how == "option":
            argv += ["--db", f"sqlite:///{typo}"]
        else:
            env["HPSEARCH_DB"] = f"sqlite:///{typo}"
        r = cli(*argv, env=env)
        assert r.returncode == 2, (how, r.stderr)
        assert f"no database at {typo} (a typo?)" in r.stderr and "Traceback" not in r.stderr
        assert not typo.exists()
    if args == ["list"]:  # zero config: the default database is made on first use
        r = cli("list", env={"HPSEARCH_HOME": str(home)})
        assert r.returncode == 0, r.stderr
        assert (home / "hpsearch.db").exists()
