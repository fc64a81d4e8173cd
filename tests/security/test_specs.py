"""Specs from the network are data: no imports, no Python tags, files only in the data roots."""
from __future__ import annotations

import os

import pytest
import yaml

from hpsearch.data_roots import resolve_dataset
from hpsearch.exceptions import SpecError
from hpsearch.spec import parse_text, validate
from tests.security.conftest import PASSWORD, SECRET, bearer

@pytest.fixture(scope="module")
def member(tmp_path_factory):
    """One app and one member's token for the whole module (argon2 hashing is slow on purpose)."""
    from hpsearch.accounts import Accounts
    from hpsearch.store import Store
    from webui import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('specs') / 'specs.db'}"
    acc = Accounts(Store(url))
    acc.add_user("ada", PASSWORD)
    acc.add_user("max", PASSWORD, role="member")
    app = create_app({"TESTING": True, "DATABASE_URL": url, "AUTH": True, "SECRET_KEY": SECRET})
    return app.test_client(), bearer(acc.create_token("max")[1])


BASE = {"name": "s", "trainable": "cnn", "space": {"lr": {"loguniform": [1e-4, 1e-1]}},
        "budget": {"trials": 2}}


@pytest.mark.parametrize("name", ["os:system", "builtins:eval", "subprocess:run"])
def test_module_function_trainables_from_the_network_are_refused(member, name, monkeypatch):
    monkeypatch.setenv("HPSEARCH_ALLOWED_MODULES", "tests.helpers")
    r = member[0].post("/api/v1/studies", json={**BASE, "trainable": name},
                                   headers=member[1])
    assert r.status_code == 422
    field = r.json["fields"][0]
    assert field["field"] == "trainable" and f"importing {name!r} is not allowed" in field["message"]
    with pytest.raises(SpecError, match="not allowed"):
        validate({**BASE, "trainable": name}, allow_import=False)


def test_only_admin_allow_listed_modules_are_imported(monkeypatch):
    spec = {**BASE, "trainable": "tests.helpers:quadratic", "metric": "loss", "mode": "min",
            "space": {"x": {"uniform": [0.0, 1.0]}}}
    monkeypatch.delenv("HPSEARCH_ALLOWED_MODULES", raising=False)
    with pytest.raises(SpecError, match="not allowed"):
        validate(spec, allow_import=False)
    monkeypatch.setenv("HPSEARCH_ALLOWED_MODULES", "tests.helpers")
    assert validate(spec, allow_import=False).trainable == "tests.helpers:quadratic"


@pytest.mark.parametrize("text", [
    "!!python/object/apply:os.system ['touch /tmp/hpsearch-pwned']",
    "name: !!python/object/apply:builtins.eval ['1+1']\ntrainable: cnn",
    "name: !!python/name:os.system\n",
])
def test_python_yaml_tags_are_refused(member, text):
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_text(text)
    r = member[0].post("/api/v1/studies", json={"spec_yaml": text},
                                   headers=member[1])
    assert r.status_code == 422 and "could not determine a constructor" in r.json["message"]
    assert not os.path.exists("/tmp/hpsearch-pwned")


@pytest.fixture
def roots(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    outside = tmp_path / "secret.csv"
    outside.write_text("a,label\n1,0\n")
    (root / "escape.csv").symlink_to(outside)
    (root / "ok.csv").write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    monkeypatch.setenv("HPSEARCH_DATA_ROOTS", str(root))
    return root


@pytest.mark.parametrize("path, message", [
    ("../../etc/passwd", "'..' is not allowed"),
    ("%2e%2e/%2e%2e/etc/passwd.csv", "'..' is not allowed"),
    ("%252e%252e/x.csv", "'..' is not allowed"),
    ("/etc/passwd.csv", "outside the data roots"),
    ("escape.csv", "symbolic link"),
    ("~root/x.csv", "'~' is not allowed"),
])
def test_dataset_paths_outside_the_data_roots_are_refused(member, roots, path, message):
    r = member[0].post("/api/v1/studies", json={**BASE, "trainable": "autoencoder",
                                                            "space": {"lr": {"loguniform": [1e-4, 1e-1]}},
                                                            "dataset": path},
                                   headers=member[1])
    assert r.status_code == 422, r.json
    fields = {f["field"]: f["message"] for f in r.json["fields"]}
    assert message in fields["dataset"] and path in fields["dataset"]


def test_a_dataset_inside_the_roots_is_accepted_as_its_resolved_path(roots):
    assert resolve_dataset("ok.csv#label") == f"{roots / 'ok.csv'}#label"
    assert resolve_dataset(str(roots / "sub" / ".." / "ok.csv").replace("/..", "")) \
        .startswith(str(roots))
    spec = validate({**BASE, "trainable": "autoencoder", "dataset": "ok.csv#label"},
                    allow_import=False)
    assert spec.dataset == f"{roots / 'ok.csv'}#label"
    # local CLI specs are the user's own: not limited to the roots
    assert validate({**BASE, "trainable": "autoencoder", "dataset": "digits"}).dataset == "digits"


def test_unknown_keys_and_caps_are_enforced():
    with pytest.raises(SpecError, match="unknown field"):
        validate({**BASE, "exec": "rm -rf /"}, allow_import=False)
    with pytest.raises(SpecError, match="larger than"):
        parse_text("name: x\n" + "#" * (300 * 1024))
    with pytest.raises(SpecError, match="budget.trials"):
        validate({**BASE, "budget": {"trials": 10**7}}, allow_import=False)
    assert yaml.safe_load("a: 1") == {"a": 1}
