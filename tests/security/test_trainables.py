"""From the network, an allow-listed module exposes only the trainables it defines and marks
(finding 4): an imported ``subprocess.run`` or an unmarked helper cannot be named."""
from __future__ import annotations

import pytest

from hpsearch.exceptions import SpecError
from hpsearch.spec import validate
from hpsearch.store.models import Study
from tests.security.conftest import bearer

MOD = "tests.security.allowlisted"
SPEC = {"name": "allow", "metric": "loss", "mode": "min", "space": {"x": {"uniform": [0.0, 4.0]}},
        "budget": {"trials": 1}}


def _queued(store) -> int:
    with store.session() as s:
        return s.query(Study).count()


@pytest.mark.parametrize("fn", ["run", "helper", "tune", "hpsearch"])
def test_only_marked_functions_of_an_allow_listed_module_are_reachable(sec_app, people, sec_store,
                                                                       monkeypatch, fn):
    monkeypatch.setenv("HPSEARCH_ALLOWED_MODULES", MOD)
    before = _queued(sec_store)
    r = sec_app.test_client().post("/api/v1/studies", json={**SPEC, "trainable": f"{MOD}:{fn}"},
                                   headers=bearer(people["max"]["token"]))
    assert r.status_code == 422, r.json
    field = r.json["fields"][0]
    assert field["field"] == "trainable" and "@hpsearch.trainable" in field["message"] \
        or "not callable" in field["message"]
    assert _queued(sec_store) == before  # nothing queued
    r = sec_app.test_client().post("/api/v1/studies", json={**SPEC, "trainable": f"{MOD}:train"},
                                   headers=bearer(people["max"]["token"]))
    assert r.status_code == 201, r.json


def test_exact_pairs_the_admin_lists_are_reachable_and_nothing_else(monkeypatch):
    monkeypatch.delenv("HPSEARCH_ALLOWED_MODULES", raising=False)
    monkeypatch.setenv("HPSEARCH_ALLOWED_TRAINABLES", f"{MOD}:helper")
    assert validate({**SPEC, "trainable": f"{MOD}:helper"}, allow_import=False).trainable \
        == f"{MOD}:helper"
    for fn in ("train", "run"):
        with pytest.raises(SpecError, match="not allowed"):
            validate({**SPEC, "trainable": f"{MOD}:{fn}"}, allow_import=False)
    # A local run (the user's own code) may still name any function.
    assert validate({**SPEC, "trainable": f"{MOD}:helper"}, allow_import=True)
